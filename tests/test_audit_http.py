"""Evidence bundles over HTTP: least disclosure (F8) and completeness proven (F9)."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid

import pytest

from tests.api_support import JsonClient, rebind
from workflows.audit.checkpoint import KeyDirectory, checkpoint_body, sign_note
from workflows.audit.verifier import VerifierKey, open_checkpoint, verify_bundle

V = "/api/v1"


@pytest.fixture
def world(templates, app, tmp_path):
    engine, settings, cast, ids = templates.open("task:delivered", tmp_path / "var")
    rebind(app, engine, settings)
    yield engine, settings, cast, ids
    engine.close()


@pytest.fixture
def http(app):
    return JsonClient(app.test_client())


def _other_ids(settings, mine: str) -> set[uuid.UUID]:
    conn = sqlite3.connect(settings.home / "events.sqlite")
    try:
        rows = conn.execute("SELECT DISTINCT originator_id FROM stored_events").fetchall()
    finally:
        conn.close()
    return {uuid.UUID(r[0]) for r in rows} - {uuid.UUID(mine)}


def test_a_bundle_names_no_other_record_and_proves_completeness(world, http):
    """F8: the bundle used to carry every leaf header of the log, with the id, type, version
    and time of every event (other villages' records, AccessTokenIssued); F9: completeness
    can be required."""
    engine, settings, cast, ids = world
    task = ids["task"]
    token = cast.tokens["village"]
    bundle = http.get(f"{V}/audit/tasks/{task}/bundle", token).expect(200)
    vkey = VerifierKey.parse(http.get(f"{V}/audit/vkey", token).content.decode())
    report = verify_bundle(bundle, vkey, require_complete=True)
    assert report.ok, report.problems
    assert report.notes[-1].startswith("completeness proven:")
    assert bundle["completeness"]["method"] == "aggregate-head"

    others = _other_ids(settings, task)
    assert len(others) > 10  # organisations, users, the pairing, ...
    text = json.dumps(bundle)
    blobs = [base64.b64decode(e["leaf_input"]) for e in bundle["events"]]
    blobs.append(base64.b64decode(bundle["completeness"]["entry"]))
    for oid in others:
        assert str(oid) not in text and oid.hex not in text
        assert not any(oid.bytes in blob for blob in blobs)
    assert {e["topic"].rsplit(".", 1)[0] for e in bundle["events"]} == {"domain.task:ServiceTask"}


def test_the_whole_log_headers_are_no_longer_handed_out(world, http):
    _, _, cast, ids = world
    answer = http.get(f"{V}/audit/tasks/{ids['task']}/bundle?headers=true", cast.tokens["evaluator"])
    assert answer.status == 422 and answer.content_type == "application/problem+json"


def test_a_head_signed_before_the_index_is_signed_again(world, http):
    """After an upgrade the signer's last note (same tree size) has no aggregate index line;
    the API signs the head again rather than hand out a bundle without completeness."""
    engine, settings, cast, ids = world
    token = cast.tokens["evaluator"]
    assert http.get(f"{V}/audit/checkpoint", token).status == 200
    keys = KeyDirectory(settings.home / "keys")
    last = keys.last_signed()
    vkey = keys.verifier_key()
    old = sign_note(keys.private_key(), vkey.name, checkpoint_body(vkey.name, last.size, last.root))
    keys.record_signed(last.size, last.root, old)
    bundle = http.get(f"{V}/audit/tasks/{ids['task']}/bundle", token).expect(200)
    assert verify_bundle(bundle, vkey, require_complete=True).ok
    assert open_checkpoint(keys.last_signed().note, vkey).heads() is not None
