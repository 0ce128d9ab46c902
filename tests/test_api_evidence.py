"""Evidence files over HTTP: upload, attach to a fact, download by those who may see it.

End to end through the Flask app on a real SQLite store and a real data folder: nothing is
mocked.  The cast (tests/api_support.py): agency G1 and village V1 are the parties of the
pairing; agency G2 and village V2 are strangers to it; ``outsider`` supervises another county.
"""
from __future__ import annotations

import hashlib
from io import BytesIO

import pytest

from domain.evidence import MAX_SIZE
from tests.api_support import Answer, JsonClient, rebind
from tests.evidence_support import jpeg, pdf, png

V = "/api/v1"
NOW = "2025-03-01T08:30:00+08:00"


@pytest.fixture
def opened(templates, app, tmp_path):
    engines = []

    def open_world(setup: str):
        engine, settings, cast, ids = templates.open(setup, tmp_path / "var")
        engines.append(engine)
        rebind(app, engine, settings)
        return engine, settings, cast, ids

    yield open_world
    for engine in engines:
        engine.close()


@pytest.fixture
def http(app):
    return JsonClient(app.test_client())


def upload(http: JsonClient, token: str | None, data: bytes, filename: str = "photo.jpg",
           content_type: str = "image/jpeg", field: str = "file"):
    """A browser's multipart upload (the name and the claimed type are the client's)."""
    client = http.flask_client
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.post(f"{V}/evidence", headers=headers, content_type="multipart/form-data",
                    data={field: (BytesIO(data), filename, content_type)})
    return Answer(r.status_code, dict(r.headers), r.get_data())


def stored_files(settings) -> list[str]:
    folder = settings.evidence_folder
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_an_upload_answers_the_digest_size_and_type_and_the_same_bytes_are_kept_once(opened, http):
    engine, settings, cast, _ = opened("none")
    photo = png()
    first = upload(http, cast.tokens["agency"], photo, "IMG_0001.JPG", "image/jpeg")
    body = first.expect(201)
    assert body == {"sha256": hashlib.sha256(photo).hexdigest(), "size": len(photo),
                    "media_type": "image/png"}  # the bytes are a PNG, whatever the name says
    assert first.header("Location") == f"{V}/evidence/{body['sha256']}"
    again = upload(http, cast.tokens["village"], photo, "same.png", "image/png").expect(201)
    assert again == body
    assert stored_files(settings) == [body["sha256"]]


@pytest.mark.parametrize("case,status", [
    ("too large", 413), ("a web page called photo.jpg", 415), ("no file", 422),
    ("json instead of a file", 415), ("evaluator", 403), ("no token", 401),
])
def test_a_refused_upload_is_a_problem_and_keeps_nothing(opened, http, case, status):
    engine, settings, cast, _ = opened("none")
    token = cast.tokens["agency"]
    if case == "too large":
        answer = upload(http, token, b"%PDF-" + b"\0" * MAX_SIZE, "scan.pdf", "application/pdf")
    elif case == "a web page called photo.jpg":
        answer = upload(http, token, b"<html><script>alert(1)</script></html>")
    elif case == "no file":
        answer = upload(http, token, png(), field="photo")
    elif case == "json instead of a file":
        answer = http.post(f"{V}/evidence", token, json={"sha256": "ab" * 32})
    elif case == "evaluator":
        answer = upload(http, cast.tokens["evaluator"], png())
    else:
        answer = upload(http, None, png())
    assert answer.status == status, answer.content
    assert answer.content_type == "application/problem+json"
    assert answer.json["status"] == status
    assert stored_files(settings) == []


def record_activity(http, cast, ids, token_of: str, evidence: list[str]):
    return http.post(f"{V}/pairings/{ids['pairing']}/activities", cast.tokens[token_of], json={
        "kind": "visit", "title": "入户走访困难党员", "occurred_at": NOW, "evidence": evidence})


def test_a_photo_attached_to_an_activity_is_recorded_with_its_size_and_type(opened, http):
    engine, settings, cast, ids = opened("in_force")
    photo, scan = png(), pdf("签到表")
    shas = [upload(http, cast.tokens["agency"], data).expect(201)["sha256"] for data in (photo, scan)]
    created = record_activity(http, cast, ids, "agency", shas).expect(201)
    pairing = http.get(f"{V}/pairings/{ids['pairing']}", cast.tokens["village"]).expect(200)
    (activity,) = [a for a in pairing["activities"] if a["activity_id"] == created["activity_id"]]
    assert activity["evidence"] == [
        {"sha256": shas[0], "size": len(photo), "media_type": "image/png"},
        {"sha256": shas[1], "size": len(scan), "media_type": "application/pdf"}]
    history = http.get(f"{V}/audit/pairings/{ids['pairing']}/history",
                       cast.tokens["village"]).expect(200)
    (event,) = [i for i in history["items"] if i["type"] == "ActivityRecorded"]
    assert [f["sha256"] for f in event["data"]["evidence"]] == shas


@pytest.mark.parametrize("who,status", [
    ("agency", 200), ("village", 200), ("supervisor", 200), ("evaluator", 200), ("admin", 200),
    ("agency2", 404), ("village2", 404), ("outsider", 404),
])
def test_a_file_is_served_to_whoever_may_see_a_record_naming_it_and_to_nobody_else(
        opened, http, who, status):
    engine, settings, cast, ids = opened("in_force")
    photo = png(rgb=(10, 120, 10))
    sha = upload(http, cast.tokens["agency"], photo).expect(201)["sha256"]
    record_activity(http, cast, ids, "agency", [sha]).expect(201)
    answer = http.get(f"{V}/evidence/{sha}", cast.tokens[who])
    assert answer.status == status, answer.content
    if status == 200:
        assert answer.content == photo
        assert answer.content_type == "image/png"
        assert answer.header("X-Content-Type-Options") == "nosniff"
        assert answer.header("Content-Disposition").startswith("inline; filename=")
    else:
        # The same answer as for a file that was never uploaded: nothing disclosed.
        unknown = http.get(f"{V}/evidence/{'0' * 64}", cast.tokens[who])
        assert answer.content_type == unknown.content_type == "application/problem+json"
        assert answer.content.decode().replace(sha, "X") == \
               unknown.content.decode().replace("0" * 64, "X")


def test_before_it_is_attached_only_the_uploader_gets_the_file(opened, http):
    engine, settings, cast, ids = opened("in_force")
    sha = upload(http, cast.tokens["agency"], jpeg(b"draft")).expect(201)["sha256"]
    assert http.get(f"{V}/evidence/{sha}", cast.tokens["agency"]).status == 200
    assert http.get(f"{V}/evidence/{sha}", cast.tokens["village"]).status == 404
    assert http.get(f"{V}/evidence/not-a-digest", cast.tokens["agency"]).status == 404
    assert http.get(f"{V}/evidence/{sha}").status == 401


@pytest.mark.parametrize("case", ["never uploaded", "uploaded by a stranger", "not a digest"])
def test_a_command_naming_a_file_the_actor_cannot_see_is_422_and_writes_nothing(
        opened, http, case):
    engine, settings, cast, ids = opened("in_force")
    if case == "never uploaded":
        sha = hashlib.sha256(b"elsewhere").hexdigest()
    elif case == "uploaded by a stranger":
        sha = upload(http, cast.tokens["agency2"], png(rgb=(1, 2, 3))).expect(201)["sha256"]
    else:
        sha = "../../etc/passwd"
    before = engine.recorder.max_notification_id()
    answer = record_activity(http, cast, ids, "agency", [sha])
    assert answer.status == 422, answer.content
    assert answer.content_type == "application/problem+json"
    assert "evidence" in answer.json["errors"]
    assert engine.recorder.max_notification_id() == before


def test_a_delivery_carries_files(opened, http):
    engine, settings, cast, ids = opened("task:planned")
    agency = cast.tokens["agency"]
    sha = upload(http, agency, jpeg(b"roof")).expect(201)["sha256"]
    http.post(f"{V}/tasks/{ids['task']}/deliver", agency, json={
        "delivered_at": "2025-03-01T09:00:00+08:00", "note": "屋顶已修缮", "evidence": [sha]}).expect(200)
    task = http.get(f"{V}/tasks/{ids['task']}", cast.tokens["village"]).expect(200)
    assert [f["sha256"] for f in task["evidence"]] == [sha]
    assert http.get(f"{V}/evidence/{sha}", cast.tokens["village"]).status == 200


def test_progress_and_a_fulfilment_carry_files(opened, http):
    engine, settings, cast, ids = opened("commitment:public")
    agency = cast.tokens["agency"]
    one, two = (upload(http, agency, pdf(t)).expect(201)["sha256"] for t in ("进度", "完成"))
    c = f"{V}/commitments/{ids['commitment']}"
    http.post(f"{c}/progress", agency, json={"note": "已拨付一半", "amount_yuan": "25000.00",
                                             "evidence": [one]}).expect(200)
    http.post(f"{c}/claim-fulfilment", agency, json={"note": "已全部拨付",
                                                      "evidence": [two]}).expect(200)
    commitment = http.get(c, cast.tokens["village"]).expect(200)
    assert [f["sha256"] for f in commitment["progress_evidence"]] == [one]
    assert [f["sha256"] for f in commitment["claim_evidence"]] == [two]
    for sha in (one, two):
        assert http.get(f"{V}/evidence/{sha}", cast.tokens["village"]).status == 200
