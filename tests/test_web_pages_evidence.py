"""Evidence files on the pages: a photo or PDF attached to an activity, a delivery or a
fulfilment is kept by its SHA-256 under the data folder, named in the event, shown on the
record's page to those who may see the record, refused beside the field when it is not a
JPEG, PNG or PDF or too large; ``cobuild audit verify`` flags a file whose bytes changed.
(The store, the engine's rules and the JSON API: tests/test_evidence.py, test_api_evidence.py.)"""
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
from domain.evidence import MAX_SIZE as MAX_BYTES

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 50


def kept(settings) -> list[str]:
    folder = settings.evidence_folder
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_photo_of_an_activity_is_kept_by_its_hash_named_in_the_event_and_shown(engine, cast, people, settings):  # noqa: F811 (the fixture)
    p = cast.pairing_in_force()
    answer = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访慰问", "day": "2025-03-01",
        "evidence": (io.BytesIO(PNG), "走访.png")})
    assert answer.status_code == 302
    digest = hashlib.sha256(PNG).hexdigest()
    recorded = [e for e in engine.repository.event_store.get(p) if type(e).__name__ == "ActivityRecorded"]
    assert recorded[0].evidence == [{"sha256": digest, "size": len(PNG), "media_type": "image/png"}]
    assert (settings.home / "evidence" / digest[:2] / digest).read_bytes() == PNG
    page = people["lizs"].get(f"/pairings/{p}").get_data(as_text=True)
    link = re.search(r'href="(/files/[0-9a-f]{64})"><img src="/files/[0-9a-f]{64}" alt="照片（2 KB）"', page).group(1)
    photo = people["lizs"].get(link)
    assert photo.status_code == 200 and photo.mimetype == "image/png" and photo.data == PNG
    aid = recorded[0].activity_id
    assert "照片（2 KB）" in text(people["lizs"].get(f"/pairings/{p}/activities/{aid}"))
    # A stranger to the record: the same 404 as for a file that was never kept.
    assert people["zhaosj"].get(link).status_code == 404
    assert people["lizs"].get(link[:-64] + "0" * 64).status_code == 404


def test_a_file_that_is_no_photo_or_pdf_or_too_large_is_refused_beside_the_field(engine, cast, people, settings):  # noqa: F811 (the fixture)
    p = cast.pairing_in_force()
    before = events(engine)
    fake = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-01",
        "evidence": (io.BytesIO(b"MZ\x90\x00 not a photo"), "photo.jpg")})
    assert fake.status_code == 422
    assert error_beside(text(fake), "evidence") == "“photo.jpg”不是 JPG、PNG 照片或 PDF 文件"
    big = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-01",
        "evidence": (io.BytesIO(b"\xff\xd8\xff" + bytes(MAX_BYTES)), "big.jpg")})
    assert big.status_code == 422, (big.status_code, text(big)[-600:])
    assert error_beside(text(big), "evidence") == "“big.jpg”太大：每个文件最大 10 MB"
    # A good file with a bad field: the file is not kept either.
    other = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "", "day": "2025-03-01", "evidence": (io.BytesIO(PNG), "a.png")})
    assert error_beside(text(other), "title") == "请填写活动名称"
    assert events(engine) == before and kept(settings) == []


def test_a_delivery_and_a_fulfilment_carry_their_files(engine, cast, people, settings):  # noqa: F811 (the fixture)
    p = cast.pairing_in_force()
    t = engine.raise_need(cast.villager, cast.village, "health", "义诊").id
    engine.claim_task(cast.agency, t, cast.giver)
    engine.plan_task(cast.agency, t, date(2025, 4, 1))
    assert people["wangsj"].post(f"/needs/{t}/deliver", {
        "delivered_on": "2025-03-01", "evidence": (io.BytesIO(PDF), "清单.pdf")}).status_code == 302
    assert [f["sha256"] for f in engine.load(ServiceTask, t).evidence] == [hashlib.sha256(PDF).hexdigest()]
    page = people["lizs"].get(f"/needs/{t}").get_data(as_text=True)
    link = re.search(r'href="(/files/[0-9a-f]{64})">查看PDF 文件（1 KB）', page).group(1)
    pdf = people["lizs"].get(link)
    assert pdf.mimetype == "application/pdf" and "attachment" in pdf.headers["Content-Disposition"]
    c = engine.make_commitment(cast.agency, p, "giver", "funds", "资助", date(2025, 12, 31),
                               amount_yuan=Decimal("1000")).id
    engine.publicise_commitment(cast.agency, c, "村务公开栏", date(2025, 3, 1))
    assert people["wangsj"].post(f"/commitments/{c}/claim", {
        "claim_note": "已拨付", "evidence": (io.BytesIO(PNG), "回执.png")}).status_code == 302
    assert "照片（2 KB）" in text(people["lizs"].get(f"/commitments/{c}"))
    assert engine.load(Pairing, p).state == "in_force"


def test_audit_verify_flags_an_evidence_file_whose_bytes_changed(engine, cast, people, settings, monkeypatch):  # noqa: F811 (the fixture)
    p = cast.pairing_in_force()
    people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-01", "evidence": (io.BytesIO(PNG), "a.png")})
    monkeypatch.delenv("COBUILD_DATABASE_URL", raising=False)
    for name, value in settings.environ().items():  # the same store, SQLite or PostgreSQL
        monkeypatch.setenv(name, value)
    clean = CliRunner().invoke(audit, ["verify"])
    assert clean.exit_code == 0, clean.output
    digest = hashlib.sha256(PNG).hexdigest()
    (settings.home / "evidence" / digest[:2] / digest).write_bytes(PNG[:-1] + b"\x00")
    tampered = CliRunner().invoke(audit, ["verify"])
    assert tampered.exit_code == 1
    assert f"evidence file {digest} named by ActivityRecorded of {p}" in tampered.output
    assert "照片（2 KB）" in text(people["lizs"].get(f"/pairings/{p}"))


def test_several_photos_at_once_and_no_more_than_nine(engine, cast, people, settings):  # noqa: F811 (the fixture)
    from tests.evidence_support import png

    p = cast.pairing_in_force()
    photos = [png(rgb=(i, 10, 10)) for i in range(10)]
    before = events(engine)
    many = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-01",
        "evidence": [(io.BytesIO(b), f"{i}.png") for i, b in enumerate(photos)]})
    assert many.status_code == 422
    assert error_beside(text(many), "evidence") == "最多选 9 个文件，现在选了 10 个"
    assert events(engine) == before and kept(settings) == []
    two = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-01",
        "evidence": [(io.BytesIO(photos[0]), "a.png"), (io.BytesIO(PDF), "签到表.pdf")]})
    assert two.status_code == 302
    (recorded,) = [e for e in engine.repository.event_store.get(p) if type(e).__name__ == "ActivityRecorded"]
    assert [f["media_type"] for f in recorded.evidence] == ["image/png", "application/pdf"]
    page = people["lizs"].get(f"/pairings/{p}").get_data(as_text=True)
    assert page.count('<img src="/files/') == 1 and "查看PDF 文件（1 KB）" in page
    # The form's field offers the album and files and, on a phone, the camera.
    form = people["wangsj"].get(f"/pairings/{p}/activities/new").get_data(as_text=True)
    assert 'accept="image/jpeg,image/png,application/pdf"' in form and 'capture="environment"' in form
