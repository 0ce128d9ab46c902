"""`cobuild audit verify` checks the evidence files the events name: the bytes of a photo or a
PDF live outside the Merkle log, so a changed byte or a deleted file is found by re-hashing
each file an event names, and named with the record and the event (exit 1)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from api.cli.audit import audit
from tests.api_support import API_START, TokenCast
from tests.evidence_support import pdf, png
from workflows.engine import open_engine
from workflows.store.clock import FakeClock


@pytest.fixture
def world(settings, monkeypatch):
    """A pairing with an activity photo, a need delivered with a PDF; the store closed.
    (On PostgreSQL when the suite runs there: the events and the file records in the
    database, the bytes in the data folder.)"""
    monkeypatch.setenv("COBUILD_HOME", str(settings.home))
    if settings.database_url:
        monkeypatch.setenv("COBUILD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("COBUILD_DATABASE_URL", raising=False)
    engine = open_engine(settings, FakeClock(API_START))
    cast = TokenCast.create(engine)
    agency, village = cast.actors["agency"], cast.actors["village"]
    pairing = cast.pairing("in_force")
    photo = engine.store_evidence(agency, png())
    activity = engine.record_activity(agency, pairing, "visit", "走访", engine.clock.now(),
                                      evidence=[photo.sha256])
    task = engine.raise_need(village, cast.orgs["V1"], "infrastructure", "修路").id
    engine.claim_task(agency, task, cast.orgs["G1"])
    engine.plan_task(agency, task, date(2025, 6, 30))
    engine.clock.advance(hours=1)
    scan = engine.store_evidence(agency, pdf("验收单"))
    engine.report_delivery(agency, task, engine.clock.now(), Decimal("100.00"),
                           evidence=[scan.sha256, photo.sha256])
    engine.close()
    return settings, pairing, activity, task, photo, scan


def verify():
    return CliRunner().invoke(audit, ["verify"])


def test_untouched_files_verify(world):
    r = verify()
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "OK: 2 evidence file(s) named by 3 event reference(s) match their SHA-256" in r.stdout


def test_a_changed_byte_is_flagged_with_the_record_and_the_event(world):
    settings, pairing, _, task, photo, _ = world
    path = settings.evidence_folder / photo.sha256[:2] / photo.sha256
    data = bytearray(path.read_bytes())
    data[20] ^= 0x01
    path.write_bytes(bytes(data))
    r = verify()
    assert r.exit_code == 1, r.stdout + r.stderr
    assert r.stdout.startswith("OK: ")  # the event log itself is intact
    assert "EVIDENCE FILES: 2 problem(s)" in r.stdout
    assert (f"evidence file {photo.sha256} named by ActivityRecorded of {pairing}"
            in r.stdout)
    assert f"named by DeliveryReported of {task}" in r.stdout
    assert "its bytes no longer match their SHA-256" in r.stdout


def test_a_missing_file_is_flagged(world):
    settings, _, _, task, _, scan = world
    (settings.evidence_folder / scan.sha256[:2] / scan.sha256).unlink()
    r = verify()
    assert r.exit_code == 1, r.stdout + r.stderr
    assert (f"evidence file {scan.sha256} named by DeliveryReported of {task} v4" in r.stdout)
    assert "the file is missing from the evidence folder" in r.stdout
