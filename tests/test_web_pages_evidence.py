"""Evidence files on the pages: a photo or PDF attached to an activity, a delivery or a
fulfilment is kept by its SHA-256 under the data folder, named in the event, shown on the
record's page to those who may see the record, refused beside the field when it is not a
JPEG, PNG or PDF or too large; ``cobuild audit verify`` flags a file whose bytes changed."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import date
from decimal import Decimal

from click.testing import CliRunner

from api.cli.audit import audit
from domain.pairing import Pairing
from domain.task import ServiceTask
from tests.test_web_auth import text
from tests.test_web_pages_acts import error_beside, events, people, web  # noqa: F401 (fixtures)
from workflows.store.evidence import MAX_BYTES, EvidenceStore

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 50


def kept(settings) -> list[str]:
    return [name for name, _ in EvidenceStore(settings.home).files()]


def test_a_photo_of_an_activity_is_kept_by_its_hash_named_in_the_event_and_shown(engine, cast, people, settings):
    p = cast.pairing_in_force()
    answer = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访慰问", "day": "2025-03-01",
        "evidence": (io.BytesIO(PNG), "走访.png")})
    assert answer.status_code == 302
    digest = hashlib.sha256(PNG).hexdigest()
    recorded = [e for e in engine.repository.event_store.get(p) if type(e).__name__ == "ActivityRecorded"]
    assert recorded[0].evidence_sha256 == digest
    assert (settings.home / "evidence" / digest[:2] / digest[2:]).read_bytes() == PNG
    page = text(people["lizs"].get(f"/pairings/{p}"))
    link = re.search(r'href="([^"]+/evidence/[0-9a-f]{64})">查看照片（2 KB）', page).group(1)
    photo = people["lizs"].get(link)
    assert photo.status_code == 200 and photo.mimetype == "image/png" and photo.data == PNG
    aid = recorded[0].activity_id
    assert "查看照片（2 KB）" in text(people["lizs"].get(f"/pairings/{p}/activities/{aid}"))
    assert people["zhaosj"].get(link).status_code == 403
    assert people["lizs"].get(link[:-64] + "0" * 64).status_code == 404


def test_a_file_that_is_no_photo_or_pdf_or_too_large_is_refused_beside_the_field(engine, cast, people, settings):
    p = cast.pairing_in_force()
    before = events(engine)
    fake = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-01",
        "evidence": (io.BytesIO(b"MZ\x90\x00 not a photo"), "photo.jpg")})
    assert fake.status_code == 422
    assert error_beside(text(fake), "evidence") == "只能上传 JPG、PNG 照片或 PDF 文件"
    big = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-01",
        "evidence": (io.BytesIO(b"\xff\xd8\xff" + bytes(MAX_BYTES)), "big.jpg")})
    assert big.status_code == 422, (big.status_code, text(big)[-600:])
    assert error_beside(text(big), "evidence") == "文件太大：最大 10 MB"
    # A good file with a bad field: the file is not kept either.
    other = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "", "day": "2025-03-01", "evidence": (io.BytesIO(PNG), "a.png")})
    assert error_beside(text(other), "title") == "请填写活动名称"
    assert events(engine) == before and kept(settings) == []


def test_a_delivery_and_a_fulfilment_carry_their_files(engine, cast, people, settings):
    p = cast.pairing_in_force()
    t = engine.raise_need(cast.villager, cast.village, "health", "义诊").id
    engine.claim_task(cast.agency, t, cast.giver)
    engine.plan_task(cast.agency, t, date(2025, 4, 1))
    assert people["wangsj"].post(f"/needs/{t}/deliver", {
        "delivered_on": "2025-03-01", "evidence": (io.BytesIO(PDF), "清单.pdf")}).status_code == 302
    assert engine.load(ServiceTask, t).evidence_sha256 == hashlib.sha256(PDF).hexdigest()
    page = text(people["lizs"].get(f"/needs/{t}"))
    link = re.search(r'href="([^"]+/evidence/[0-9a-f]{64})">查看PDF 文件', page).group(1)
    pdf = people["lizs"].get(link)
    assert pdf.mimetype == "application/pdf" and "attachment" in pdf.headers["Content-Disposition"]
    c = engine.make_commitment(cast.agency, p, "giver", "funds", "资助", date(2025, 12, 31),
                               amount_yuan=Decimal("1000")).id
    engine.publicise_commitment(cast.agency, c, "村务公开栏", date(2025, 3, 1))
    assert people["wangsj"].post(f"/commitments/{c}/claim", {
        "claim_note": "已拨付", "evidence": (io.BytesIO(PNG), "回执.png")}).status_code == 302
    assert "查看照片" in text(people["lizs"].get(f"/commitments/{c}"))
    assert engine.load(Pairing, p).state == "in_force"


def test_audit_verify_flags_an_evidence_file_whose_bytes_changed(engine, cast, people, settings, monkeypatch):
    p = cast.pairing_in_force()
    people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-01", "evidence": (io.BytesIO(PNG), "a.png")})
    monkeypatch.setenv("COBUILD_HOME", str(settings.home))
    monkeypatch.delenv("COBUILD_DATABASE_URL", raising=False)
    clean = CliRunner().invoke(audit, ["verify"])
    assert "evidence" not in clean.output
    digest = hashlib.sha256(PNG).hexdigest()
    (settings.home / "evidence" / digest[:2] / digest[2:]).write_bytes(PNG[:-1] + b"\x00")
    tampered = CliRunner().invoke(audit, ["verify"])
    assert tampered.exit_code == 1
    assert f"TAMPERED: evidence file {digest[:2]}/{digest[2:]}" in tampered.output
    assert "查看照片" in text(people["lizs"].get(f"/pairings/{p}"))
