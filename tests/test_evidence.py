"""Evidence files: the value object (properties), the events that carry files, the store.

What a user relies on: a file is named by the SHA-256 of its bytes and recorded with its size
and its type as the bytes say (never the name's or the browser's claim); too large or of
another type is refused and nothing is kept; the same bytes are kept once; a kept file is
owner-only and written whole or not at all; a changed byte is caught; events written before
files were kept still load.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from uuid import uuid4

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from domain.errors import InvalidValue
from domain.evidence import (
    MAX_FILES, MAX_SIZE, MEDIA_TYPES, Evidence, FileTooLarge, FileTypeRefused, check_evidence,
    recorded_evidence, sniff_media_type,
)
from tests.domain_support import GIVER, RECEIVER, StoreApp, at, by, task_in_state
from tests.evidence_support import jpeg, pdf, png
from workflows.store.evidence import EvidenceStore
from workflows.store.schema import ensure_schema
from workflows.store.settings import Settings

MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n",
         "application/pdf": b"%PDF-"}
digests = st.binary(min_size=1, max_size=64).map(lambda b: hashlib.sha256(b).hexdigest())
files = st.builds(Evidence, digests, st.integers(1, MAX_SIZE), st.sampled_from(MEDIA_TYPES))


# -- the value object -------------------------------------------------------------------------

@given(st.sampled_from(MEDIA_TYPES), st.binary(max_size=2000))
def test_a_file_is_named_by_its_bytes_and_typed_by_its_first_bytes(media_type, rest):
    data = MAGIC[media_type] + rest
    evidence = Evidence.of(data)
    assert evidence == Evidence(hashlib.sha256(data).hexdigest(), len(data), media_type)
    assert Evidence.from_dict(json.loads(json.dumps(evidence.as_dict()))) == evidence


@given(st.binary(min_size=1, max_size=200).filter(
    lambda b: not any(b.startswith(m) for m in MAGIC.values())))
def test_bytes_of_any_other_type_are_refused(data):
    assert sniff_media_type(data) is None
    with pytest.raises(FileTypeRefused):
        Evidence.of(data)


def test_a_name_or_a_claim_does_not_make_a_photo():
    # An HTML page called photo.jpg, an SVG (scripts), a GIF: the bytes decide.
    for data in (b"<html><script>alert(1)</script>", b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                 b"GIF89a....", b"\xff\xd8"):
        with pytest.raises(FileTypeRefused):
            Evidence.of(data)


def test_the_size_limit_is_exact():
    at_limit = b"%PDF-" + b"\0" * (MAX_SIZE - 5)
    assert Evidence.of(at_limit).size == MAX_SIZE
    with pytest.raises(FileTooLarge):
        Evidence.of(at_limit + b"\0")
    with pytest.raises(InvalidValue):
        Evidence.of(b"")


@given(st.text(max_size=70).filter(lambda s: not (len(s) == 64 and set(s) <= set("0123456789abcdef"))))
def test_a_file_is_named_only_by_a_lower_case_sha256(name):
    with pytest.raises(InvalidValue):
        Evidence(name, 10, "image/png")


@given(digests, st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_SIZE + 1),
                          st.booleans(), st.just(1.5)), st.sampled_from(MEDIA_TYPES))
def test_a_size_outside_the_limits_is_refused(sha256, size, media_type):
    with pytest.raises(InvalidValue):
        Evidence(sha256, size, media_type)


@given(digests, st.integers(1, MAX_SIZE), st.text(max_size=30).filter(lambda t: t not in MEDIA_TYPES))
def test_a_type_outside_the_list_is_refused(sha256, size, media_type):
    with pytest.raises(InvalidValue):
        Evidence(sha256, size, media_type)


@given(st.lists(files, max_size=20))
def test_a_record_keeps_each_file_once_in_order_and_at_most_nine(items):
    first_of_each = [e for i, e in enumerate(items)
                     if all(e.sha256 != earlier.sha256 for earlier in items[:i])]
    if len(first_of_each) > MAX_FILES:
        with pytest.raises(InvalidValue):
            check_evidence(items)
    else:
        assert recorded_evidence(check_evidence(items)) == first_of_each


# -- the events that carry files --------------------------------------------------------------

def test_a_delivery_records_hash_size_and_type_and_a_rejection_clears_them():
    t = task_in_state("planned")
    photo = Evidence.of(png())
    t.report_delivery(by(GIVER, at(6)), at(5), note="已交付", evidence=[photo, photo])
    assert t.evidence == [photo.as_dict()]
    assert t.collect_events()[-1].evidence == [photo.as_dict()]
    t.reject_delivery(by(RECEIVER, at(7)), "屋顶仍漏雨")
    assert t.evidence == []


def test_an_event_written_before_files_were_kept_still_loads():
    """A stored DeliveryReported without the ``evidence`` field (the old shape)."""
    app = StoreApp()
    t = task_in_state("planned")
    t.report_delivery(by(GIVER, at(6)), at(5), note="已交付", evidence_sha256="ab" * 32)
    app.save(t)
    recorder = app.recorder
    stored = list(recorder.select_events(t.id))
    old = []
    for s in stored:
        state = json.loads(s.state)
        assert "evidence" in state or not s.topic.endswith("DeliveryReported")
        state.pop("evidence", None)
        old.append(replace(s, state=json.dumps(state).encode()))
    loaded = [app.mapper.to_domain_event(s) for s in old]
    task = None
    for event in loaded:
        task = event.mutate(task)
    assert task.state == "delivered" and task.evidence == [] and task.evidence_sha256 == "ab" * 32


# -- the store --------------------------------------------------------------------------------

@pytest.fixture
def store(settings):
    """The store on the suite's database (SQLite, or PostgreSQL with COBUILD_TEST_DATABASE_URL)."""
    ensure_schema(settings)
    s = EvidenceStore(settings)
    yield s
    s.close()


def test_uploads_and_references_are_kept_in_the_deployments_database(store):
    photo = store.put(png(), uploaded_by="u1")
    record = uuid4()
    store.refer(record, [photo])
    store.refer(record, [photo])  # once
    assert store.references(photo.sha256) == [record]
    assert store.get(photo.sha256) == photo and store.get("0" * 64) is None


def test_a_file_is_kept_once_owner_only_under_its_digest(store):
    data = jpeg(b"village meeting")
    first = store.put(data, uploaded_by="u1")
    again = store.put(data, uploaded_by="u2")
    assert first == again == Evidence(hashlib.sha256(data).hexdigest(), len(data), "image/jpeg")
    path = store.folder / first.sha256[:2] / first.sha256
    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == [first.sha256]  # no temporary left
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert store.get(first.sha256) == first
    assert store.uploaded_by(first.sha256, "u1") and store.uploaded_by(first.sha256, "u2")
    assert not store.uploaded_by(first.sha256, "u3")
    with store.open(first.sha256) as f:
        assert f.read() == data


def test_a_refused_file_leaves_nothing(store):
    for data in (b"<html>", b"%PDF-" + b"\0" * MAX_SIZE):
        with pytest.raises(InvalidValue):
            store.put(data, uploaded_by="u1")
    assert not store.folder.exists() or not any(store.folder.rglob("*"))


def test_a_changed_byte_or_a_missing_file_fails_verification_and_a_new_upload_repairs_it(store):
    data = pdf("结对共建协议")
    evidence = store.put(data)
    assert store.verify(evidence.sha256)
    path = store.path(evidence.sha256)
    damaged = bytearray(data)
    damaged[-3] ^= 1
    os.chmod(path, 0o600)
    path.write_bytes(bytes(damaged))
    assert not store.verify(evidence.sha256)
    store.put(data)  # the same bytes arrive again: the damaged copy is replaced
    assert store.verify(evidence.sha256)
    path.unlink()
    assert not store.verify(evidence.sha256)


def test_a_write_interrupted_before_the_rename_leaves_no_file(store, monkeypatch):
    """Atomic: the name appears only with all the bytes behind it."""
    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.put(png())
    sha = hashlib.sha256(png()).hexdigest()
    assert not store.path(sha).exists()
    assert not any(p.is_file() for p in store.folder.rglob("*"))
    assert store.get(sha) is None


def test_a_name_is_never_a_path(store):
    for name in ("../../etc/passwd", "ab" * 31 + "/x", "AB" * 32):
        with pytest.raises(InvalidValue):
            store.path(name)


@hsettings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_any_allowed_bytes_round_trip(tmp_path_factory, payloads):
    settings = Settings(home=tmp_path_factory.mktemp("ev"))
    ensure_schema(settings)
    s = EvidenceStore(settings)
    try:
        for payload in payloads:
            data = b"\x89PNG\r\n\x1a\n" + payload
            e = s.put(data)
            assert s.verify(e.sha256) and s.open(e.sha256).read() == data
    finally:
        s.close()
