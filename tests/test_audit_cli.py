"""`cobuild audit` commands: exit codes 0 clean / 1 tampered / 2 cannot check."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from api.cli.audit import audit
from tests.audit_support import make_app, rebuild_audit_tables


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("COBUILD_HOME", str(tmp_path))
    app = make_app(tmp_path / "events.sqlite")
    ids = [app.open(f"c{i}", lines=2) for i in range(10)]
    app.close()
    return tmp_path, ids


def run(*args):
    return CliRunner().invoke(audit, list(args))


def test_checkpoint_verify_bundle_roundtrip(home, tmp_path):
    path, ids = home
    r = run("checkpoint", "--out", str(tmp_path / "cp30.note"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1] == "30"
    r = run("verify", "--checkpoint", str(tmp_path / "cp30.note"))
    assert r.exit_code == 0 and r.stdout.startswith("OK: 30 leaves"), r.stdout + r.stderr
    r = run("bundle", str(ids[3]))
    assert r.exit_code == 0, r.stderr
    bundle = json.loads(r.stdout)
    assert len(bundle["events"]) == 3
    (tmp_path / "b.json").write_text(r.stdout)
    r = run("verify-bundle", str(tmp_path / "b.json"))
    assert r.exit_code == 0 and "completeness proven" in r.stdout
    bundle["events"][0]["state"] = bundle["events"][1]["state"]
    (tmp_path / "bad.json").write_text(json.dumps(bundle))
    r = run("verify-bundle", str(tmp_path / "bad.json"))
    assert r.exit_code == 1 and "stored state does not match" in r.stdout


def test_verify_names_first_problem_and_exit_codes(home, tmp_path):
    path, ids = home
    assert run("checkpoint", "--out", str(tmp_path / "cp.note")).exit_code == 0
    conn = sqlite3.connect(path / "events.sqlite")
    conn.execute("UPDATE stored_events SET state = x'00' WHERE rowid = 7")
    conn.commit()
    conn.close()
    r = run("verify")
    assert r.exit_code == 1
    assert r.stdout.startswith("TAMPERED: leaf 6 / notification 7 (")
    assert "state bytes ALTERED" in r.stdout


def test_consistent_rewrite_caught_by_external_checkpoint(home, tmp_path):
    path, _ = home
    assert run("checkpoint", "--out", str(tmp_path / "cp.note")).exit_code == 0
    (path / "keys" / "signer-state.json").unlink()  # the operator also destroys the signer's memory
    conn = sqlite3.connect(path / "events.sqlite")
    conn.execute("UPDATE stored_events SET state = CAST('{}' AS BLOB) WHERE rowid = 12")
    conn.commit()
    rebuild_audit_tables(conn)
    conn.close()
    assert run("verify").exit_code == 0  # internal consistency only
    r = run("verify", "--checkpoint", str(tmp_path / "cp.note"))
    assert r.exit_code == 1 and "history rewritten within leaves [0,30)" in r.stdout
    assert run("verify", "--require-checkpoint").exit_code == 2


def test_signer_refuses_and_consistency(home, tmp_path):
    path, ids = home
    assert run("checkpoint", "--out", str(tmp_path / "old.note")).exit_code == 0
    app = make_app(path / "events.sqlite")
    app.open("more", lines=4)
    app.close()
    assert run("checkpoint", "--out", str(tmp_path / "new.note")).exit_code == 0
    r = run("consistency", str(tmp_path / "old.note"), str(tmp_path / "new.note"))
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert (out["from_size"], out["to_size"], out["verified"]) == (30, 35, True) and out["proof"]
    assert run("consistency", "10", "35").exit_code == 0

    conn = sqlite3.connect(path / "events.sqlite")
    conn.execute("UPDATE stored_events SET state = CAST('{}' AS BLOB) WHERE rowid = 3")
    conn.commit()
    rebuild_audit_tables(conn)
    conn.close()
    r = run("checkpoint")
    assert r.exit_code == 1 and "does not extend" in r.stderr
    r = run("consistency", str(tmp_path / "old.note"), "35")
    assert r.exit_code == 1 and json.loads(r.stdout)["verified"] is False


def test_cannot_check_without_store(tmp_path, monkeypatch):
    monkeypatch.setenv("COBUILD_HOME", str(tmp_path / "nothing"))
    r = run("verify")
    assert r.exit_code == 2 and r.stderr.startswith("cannot check:")
    assert not (tmp_path / "nothing" / "events.sqlite").exists()
