"""Evidence bundles: export, offline verification, and every kind of edit detected."""

from __future__ import annotations

import base64
import copy
import json
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from tests.audit_support import make_app
from workflows.audit import verifier
from workflows.audit.verifier import open_checkpoint
from workflows.audit.recorder import SQLITE_SQL, AuditLog, connect_sqlite
from workflows.audit.bundle import BundleError, build_bundle
from workflows.audit.checkpoint import KeyDirectory, Signer, checkpoint_body, sign_note, store_checkpoint_sqlite

VERIFIER_FILE = Path(verifier.__file__)


@pytest.fixture
def exported(tmp_path):
    db = tmp_path / "events.sqlite"
    keys = KeyDirectory(tmp_path / "keys")
    vkey = keys.generate("cobuild.test/log")
    app = make_app(db)
    ids = [app.open(f"b{i}", lines=i % 3) for i in range(12)]
    target = ids[5]
    app.add(target, "late line")
    for i in range(4):
        app.open(f"after{i}")
    conn = connect_sqlite(db)
    log = AuditLog.from_connection(conn)
    note = Signer(keys, log, lambda s, r, n: store_checkpoint_sqlite(conn, s, r, n)).sign()
    bundle = build_bundle(log, target, note, vkey)
    yield bundle, vkey, keys, log, target
    conn.close()


def _check(bundle, vkey):
    return verifier.verify_bundle(json.loads(json.dumps(bundle)), vkey)


def test_clean_bundle_verifies_with_completeness(exported):
    bundle, vkey, *_ , target = exported
    report = _check(bundle, vkey)
    assert report.ok, report.problems
    assert [e["originator_version"] for e in bundle["events"]] == [1, 2, 3, 4]
    assert report.notes[0].startswith(f"OK: 4 event(s) of {target} (v1..v4)")
    assert report.notes[1] == (f"completeness proven: v4 (notification {bundle['events'][-1]['notification_id']}) "
                               f"is the latest event of {target} in the aggregate index of tree size 29")
    assert verifier.verify_bundle(json.loads(json.dumps(bundle)), vkey, require_complete=True).ok


def test_bundle_carries_nothing_about_other_records(exported):
    # F8: the bundle used to carry every leaf header of the log (id, version, topic and
    # time of every event); now only this record's leaves, its index entry and hashes.
    bundle, vkey, _, log, target = exported
    text = json.dumps(bundle)
    assert "headers" not in bundle["completeness"]
    others = {row.leaf.originator_id for i in range(log.tree_size()) if (row := log.leaf(i))} - {str(target)}
    assert len(others) == 15
    for oid in others:
        assert oid not in text and uuid.UUID(oid).hex not in text
    raw = [base64.b64decode(e["leaf_input"]) for e in bundle["events"]]
    entry = base64.b64decode(bundle["completeness"]["entry"])
    for blob in raw + [entry]:
        for oid in others:
            assert uuid.UUID(oid).bytes not in blob


def test_bundle_by_string_id(exported):
    bundle, vkey, _, log, target = exported
    again = build_bundle(log, str(target), bundle["checkpoint"], vkey)
    assert again == bundle


def test_bundle_against_a_checkpoint_from_before_the_index(exported):
    """A checkpoint signed by the earlier code (no aggregate index line) still gives a bundle
    that verifies, saying completeness is not proven; --require-complete fails it."""
    bundle, vkey, keys, log, target = exported
    size, root = log.head()
    old_note = sign_note(keys.private_key(), vkey.name, checkpoint_body(vkey.name, size, root))
    old = build_bundle(log, target, old_note, vkey)
    assert old["completeness"] == {"method": "none"}
    report = _check(old, vkey)
    assert report.ok and report.notes[-1].startswith("completeness NOT proven")
    strict = verifier.verify_bundle(json.loads(json.dumps(old)), vkey, require_complete=True)
    assert not strict.ok and strict.exit_code == 1
    assert strict.problems[0].startswith("completeness NOT proven")


def test_bundles_of_the_first_format_still_verify(exported):
    """Bundles handed out before carried every log header; evaluators keep them, so the
    verifier still checks them (and still catches a left-out event)."""
    bundle, vkey, keys, log, target = exported
    size, root = log.head()
    first = copy.deepcopy(bundle)
    first["checkpoint"] = sign_note(keys.private_key(), vkey.name, checkpoint_body(vkey.name, size, root))
    first["completeness"] = {"method": "log-headers",
                             "headers": [base64.b64encode(h).decode() for h in log.headers(0, size)]}
    report = _check(first, vkey)
    assert report.ok and "completeness proven: the 29 log headers" in report.notes[-1]
    first["events"].pop()
    assert "is in the log but not in the bundle" in _check(first, vkey).problems[0]


def _flip_b64(value: str, byte: int = 0) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[byte] ^= 1
    return base64.b64encode(bytes(raw)).decode()


MUTATIONS = {
    "state byte": lambda b: b["events"][2].__setitem__("state", _flip_b64(b["events"][2]["state"], 5)),
    "leaf header byte": lambda b: b["events"][2].__setitem__("leaf_input", _flip_b64(b["events"][2]["leaf_input"], 30)),
    "proof element": lambda b: b["events"][2]["inclusion_proof"].__setitem__(
        0, _flip_b64(b["events"][2]["inclusion_proof"][0])),
    "leaf index +1": lambda b: b["events"][2].__setitem__("leaf_index", b["events"][2]["leaf_index"] + 1),
    "display field": lambda b: b["events"][2].__setitem__("topic", "audit_support:Ledger.Closed"),
    "dropped middle event": lambda b: b["events"].pop(1),
    "dropped latest event": lambda b: b["events"].pop(),
    "reordered events": lambda b: b["events"].insert(0, b["events"].pop(1)),
    "checkpoint edited": lambda b: b.__setitem__("checkpoint", b["checkpoint"].replace("\n", "\n1", 1)),
    "index entry byte": lambda b: b["completeness"].__setitem__("entry", _flip_b64(b["completeness"]["entry"], -1)),
    "index position": lambda b: b["completeness"].__setitem__("index", b["completeness"]["index"] ^ 1),
    "index proof element": lambda b: b["completeness"]["proof"].__setitem__(
        0, _flip_b64(b["completeness"]["proof"][0])),
    "index proof dropped": lambda b: b["completeness"].__setitem__("proof", []),
    "index method unknown": lambda b: b["completeness"].__setitem__("method", "trust-me"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_edited_bundle_is_rejected(exported, name):
    bundle, vkey, *_ = exported
    edited = copy.deepcopy(bundle)
    MUTATIONS[name](edited)
    report = verifier.verify_bundle(json.loads(json.dumps(edited)), vkey, require_complete=True)
    assert not report.ok, name
    assert report.exit_code == 1


def test_edited_state_names_the_leaf(exported):
    bundle, vkey, *_ = exported
    edited = copy.deepcopy(bundle)
    MUTATIONS["state byte"](edited)
    ev = edited["events"][2]
    (problem,) = _check(edited, vkey).problems
    assert problem == (f"leaf {ev['leaf_index']} (notification {ev['notification_id']}, {edited['originator_id']} v3): "
                       "stored state does not match its committed hash")


def test_dropped_latest_event_caught_by_completeness(exported):
    bundle, vkey, *_ = exported
    edited = copy.deepcopy(bundle)
    last = edited["events"].pop()
    problems = _check(edited, vkey).problems
    assert problems == [f"completeness: the checkpoint's latest event of {edited['originator_id']} is v4 "
                        f"(notification {last['notification_id']}), the bundle's last is v3 (notification "
                        f"{edited['events'][-1]['notification_id']}): events are left out"]


def test_trimmed_bundle_fails_when_completeness_is_required(exported):
    """F9: the last event and the completeness proof dropped together used to pass ("OK ...
    completeness NOT proven", exit 0) with no way to require completeness."""
    bundle, vkey, *_ = exported
    trimmed = copy.deepcopy(bundle)
    trimmed["events"].pop()
    del trimmed["completeness"]
    lenient = _check(trimmed, vkey)
    assert lenient.ok and lenient.notes[-1].startswith("completeness NOT proven")
    strict = verifier.verify_bundle(json.loads(json.dumps(trimmed)), vkey, require_complete=True)
    assert (strict.ok, strict.exit_code) == (False, 1)
    assert strict.problems == ["completeness NOT proven: versions are contiguous from 1, but a later version "
                               "could have been left out (--require-complete)"]


def test_swapped_in_event_of_another_record(exported):
    bundle, vkey, _, log, target = exported
    other = log.leaf(0).leaf.originator_id
    theirs = build_bundle(log, other, bundle["checkpoint"], vkey)
    edited = copy.deepcopy(bundle)
    edited["events"][1] = theirs["events"][0]
    problems = _check(edited, vkey).problems
    assert any(f"belongs to aggregate {other}, not {target}" in p for p in problems)
    # Another record's index entry does not prove this one complete either.
    edited = copy.deepcopy(bundle)
    edited["completeness"] = theirs["completeness"]
    assert _check(edited, vkey).problems == [f"completeness: the aggregate index entry is not the one of {target}"]


def test_operator_signing_a_false_index_is_caught_by_verify(exported, tmp_path):
    """An operator with the key can sign a checkpoint whose index shows an earlier event as
    the latest, and hand out a trimmed bundle that verifies against it.  The evaluator who
    keeps that checkpoint finds it out with whole-store verification."""
    from workflows.audit.heads import HeadIndex
    from workflows.audit.verify import verify_store

    bundle, vkey, keys, log, target = exported
    size, root = log.head()
    conn = sqlite3.connect(tmp_path / "events.sqlite")
    rows = conn.execute(SQLITE_SQL.select_heads, (log.leaf(size - 1).notification_id,)).fetchall()
    conn.close()
    assert HeadIndex.build(size, rows).root() == log.head_index(size).root()
    previous = bundle["events"][-2]
    rows = [row if row[0] != target.hex else (target.hex, 3, previous["notification_id"],
                                               base64.b64decode(previous["leaf_input"])) for row in rows]
    false_index = HeadIndex.build(size, rows)
    note = sign_note(keys.private_key(), vkey.name, checkpoint_body(vkey.name, size, root, false_index))
    trimmed = copy.deepcopy(bundle)
    trimmed["checkpoint"] = note
    trimmed["events"].pop()
    found = false_index.find(target)
    trimmed["completeness"].update(index=found[0], entry=base64.b64encode(found[1]).decode(),
                                   proof=[base64.b64encode(p).decode() for p in found[2]])
    assert verifier.verify_bundle(json.loads(json.dumps(trimmed)), vkey, require_complete=True).ok
    cp = open_checkpoint(note, vkey)
    result = verify_store(tmp_path / "events.sqlite", external_checkpoints=[("evaluator's checkpoint", cp)],
                          vkey=vkey)
    assert not result.ok
    assert str(result.first) == (
        "leaf 29: evaluator's checkpoint: its aggregate index (16 records) differs from the one the log gives at "
        "tree size 29 (16 records): the checkpoint misstates some record's latest event, so bundles proven with "
        "it may leave events out")
    honest_cp = open_checkpoint(bundle["checkpoint"], vkey)
    assert verify_store(tmp_path / "events.sqlite", external_checkpoints=[("theirs", honest_cp)], vkey=vkey).ok


def test_forged_checkpoint_rejected(exported):
    bundle, vkey, *_ = exported
    forged = copy.deepcopy(bundle)
    forged["checkpoint"] = sign_note(Ed25519PrivateKey.generate(), vkey.name,
                                     checkpoint_body(vkey.name, bundle["tree_size"], bytes(32)))
    assert _check(forged, vkey).problems == ["checkpoint: no signature from the pinned log key"]


def test_withheld_payload_is_reported_not_failed(exported):
    bundle, vkey, *_ = exported
    edited = copy.deepcopy(bundle)
    edited["events"][1]["state"] = None
    report = _check(edited, vkey)
    assert report.ok and any("withheld" in n for n in report.notes)


def test_unknown_aggregate(exported):
    bundle, vkey, _, log, _ = exported
    with pytest.raises(BundleError):
        build_bundle(log, "no-such-aggregate", bundle["checkpoint"], vkey)


def _run_verifier(*args):
    # The verifier must run as a lone file: copy it out of the package and run it in isolation.
    return subprocess.run([sys.executable, "-I", *map(str, args)], capture_output=True, text=True)


def test_standalone_verifier_file(exported, tmp_path):
    bundle, vkey, keys, log, _ = exported
    lone = tmp_path / "lone" / "verifier.py"
    lone.parent.mkdir()
    lone.write_text(VERIFIER_FILE.read_text())
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(bundle))
    vkey_file = keys.vkey_path
    ok = _run_verifier(lone, "bundle", good, "--vkey", vkey_file)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    edited = copy.deepcopy(bundle)
    MUTATIONS["state byte"](edited)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(edited))
    r = _run_verifier(lone, "bundle", bad, "--vkey", vkey_file)
    assert r.returncode == 1 and "TAMPERED: leaf" in r.stdout
    trimmed = copy.deepcopy(bundle)
    trimmed["events"].pop()
    del trimmed["completeness"]
    (tmp_path / "trimmed.json").write_text(json.dumps(trimmed))
    assert _run_verifier(lone, "bundle", tmp_path / "trimmed.json", "--vkey", vkey_file).returncode == 0
    r = _run_verifier(lone, "bundle", tmp_path / "trimmed.json", "--vkey", vkey_file, "--require-complete")
    assert r.returncode == 1 and "TAMPERED: completeness NOT proven" in r.stdout
    assert _run_verifier(lone, "bundle", good).returncode == 2  # no pinned key
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert _run_verifier(lone, "bundle", garbage, "--vkey", vkey_file).returncode == 2


def test_verifier_imports_only_stdlib_and_cryptography():
    import ast
    tree = ast.parse(VERIFIER_FILE.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots - set(sys.stdlib_module_names) - {"__future__"} == {"cryptography"}


def _bundle_in_log_of(tmp_path, events: int) -> dict:
    """The bundle of one five-event record in a log of ``events`` events, the rest written
    straight through the audited recorder (one event per other record) to keep set-up short."""
    db = tmp_path / f"log-{events}.sqlite"
    keys = KeyDirectory(tmp_path / f"keys-{events}")
    vkey = keys.generate("cobuild.test/log")
    app = make_app(db)
    target = app.open("target", lines=3)
    others = events - 5
    topic = "tests.audit_support:Ledger.Opened"
    for start in range(0, others, 5000):
        app.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, topic, b'{"title":"other"}')
                                    for _ in range(min(5000, others - start))])
    app.add(target, "last")
    conn = connect_sqlite(db)
    log = AuditLog.from_connection(conn)
    assert log.tree_size() == events
    bundle = build_bundle(log, target, Signer(keys, log).sign(), vkey)
    conn.close()
    assert verifier.verify_bundle(json.loads(json.dumps(bundle)), vkey, require_complete=True).ok
    return bundle


@pytest.mark.slow
def test_bundle_size_grows_with_the_record_not_the_log(tmp_path):
    """F8: the same five-event record's bundle in a log of 1,000 and of 100,000 events.  Only
    the Merkle proofs lengthen (log2: 10 -> 17 hashes for the six proofs); the first format
    carried ~160 bytes per event of the log (16 MB at 100,000)."""
    small = len(json.dumps(_bundle_in_log_of(tmp_path, 1_000)))
    large = len(json.dumps(_bundle_in_log_of(tmp_path, 100_000)))
    hash_in_json = len(json.dumps(base64.b64encode(bytes(32)).decode())) + 2
    assert small < 8_000
    assert large - small <= 6 * (17 - 10) * hash_in_json + 100
