"""Evidence bundles: export, offline verification, and every kind of edit detected."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.audit_support import make_app
from workflows.audit import verifier
from workflows.audit.recorder import AuditLog, connect_sqlite
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
    assert any("completeness proven" in n for n in report.notes)


def test_bundle_by_string_id(exported):
    bundle, vkey, _, log, target = exported
    again = build_bundle(log, str(target), bundle["checkpoint"], vkey)
    assert again == bundle


def test_bundle_without_headers_says_completeness_not_proven(exported):
    bundle, vkey, _, log, target = exported
    small = build_bundle(log, target, bundle["checkpoint"], vkey, include_headers=False)
    report = _check(small, vkey)
    assert report.ok and any("completeness NOT proven" in n for n in report.notes)


def _flip_b64(value: str, byte: int = 0) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[byte] ^= 1
    return base64.b64encode(bytes(raw)).decode()


MUTATIONS = {
    "state byte": lambda b: b["events"][2].__setitem__("state", _flip_b64(b["events"][2]["state"], 5)),
    "leaf header byte": lambda b: b["events"][2].__setitem__("leaf_input", _flip_b64(b["events"][2]["leaf_input"], 30)),
    "proof element": lambda b: b["events"][2]["inclusion_proof"].__setitem__(0, _flip_b64(b["events"][2]["inclusion_proof"][0])),
    "leaf index +1": lambda b: b["events"][2].__setitem__("leaf_index", b["events"][2]["leaf_index"] + 1),
    "display field": lambda b: b["events"][2].__setitem__("topic", "audit_support:Ledger.Closed"),
    "dropped middle event": lambda b: b["events"].pop(1),
    "dropped latest event": lambda b: b["events"].pop(),
    "reordered events": lambda b: b["events"].insert(0, b["events"].pop(1)),
    "checkpoint edited": lambda b: b.__setitem__("checkpoint", b["checkpoint"].replace("\n", "\n1", 1)),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_edited_bundle_is_rejected(exported, name):
    bundle, vkey, *_ = exported
    edited = copy.deepcopy(bundle)
    MUTATIONS[name](edited)
    report = _check(edited, vkey)
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
    assert problems == [f"completeness: leaf {last['leaf_index']} ({edited['originator_id']} v4) "
                        "is in the log but not in the bundle"]


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
