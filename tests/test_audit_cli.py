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
    """The operator's data folder; evaluators keep their files in tmp_path/evaluator."""
    data = tmp_path / "home"
    data.mkdir()
    (tmp_path / "evaluator").mkdir()
    monkeypatch.setenv("COBUILD_HOME", str(data))
    app = make_app(data / "events.sqlite")
    ids = [app.open(f"c{i}", lines=2) for i in range(10)]
    app.close()
    return data, ids


def run(*args):
    return CliRunner().invoke(audit, list(args))


def test_checkpoint_verify_bundle_roundtrip(home, tmp_path):
    path, ids = home
    tmp_path = tmp_path / "evaluator"
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
    r = run("verify-bundle", "--require-complete", str(tmp_path / "b.json"))
    assert r.exit_code == 0 and "completeness proven" in r.stdout
    bundle["events"][0]["state"] = bundle["events"][1]["state"]
    (tmp_path / "bad.json").write_text(json.dumps(bundle))
    r = run("verify-bundle", str(tmp_path / "bad.json"))
    assert r.exit_code == 1 and "stored state does not match" in r.stdout


def test_verify_names_first_problem_and_exit_codes(home, tmp_path):
    path, ids = home
    tmp_path = tmp_path / "evaluator"
    assert run("checkpoint", "--out", str(tmp_path / "cp.note")).exit_code == 0
    conn = sqlite3.connect(path / "events.sqlite")
    conn.execute("UPDATE stored_events SET state = x'00' WHERE rowid = 7")
    conn.commit()
    conn.close()
    r = run("verify")
    assert r.exit_code == 1
    assert r.stdout.startswith("TAMPERED: leaf 6 / notification 7 (")
    assert "state bytes ALTERED" in r.stdout


def _rewrite_and_resign(path):
    """An insider with the signing key: edits an event, recomputes leaves and nodes, forgets
    the signer's memory and signs the rewritten log, so everything in the data folder agrees."""
    (path / "keys" / "signer-state.json").unlink()
    conn = sqlite3.connect(path / "events.sqlite")
    conn.execute("UPDATE stored_events SET state = CAST('{}' AS BLOB) WHERE rowid = 12")
    conn.commit()
    rebuild_audit_tables(conn)
    conn.close()
    assert run("checkpoint", "--out", str(path / "latest.note")).exit_code == 0


def test_consistent_rewrite_caught_by_external_checkpoint(home, tmp_path):
    path, _ = home
    evaluator = tmp_path / "evaluator"
    assert run("checkpoint", "--out", str(evaluator / "cp.note")).exit_code == 0
    _rewrite_and_resign(path)
    r = run("verify")  # internal consistency only
    assert r.exit_code == 0 and "WARNING: no checkpoint from outside the database" in r.stdout
    r = run("verify", "--checkpoint", str(evaluator / "cp.note"))
    assert r.exit_code == 1 and "history rewritten within leaves [0,30)" in r.stdout
    r = run("verify", "--checkpoints", str(evaluator))
    assert r.exit_code == 1 and "history rewritten within leaves [0,30)" in r.stdout


def test_require_checkpoint_is_not_satisfied_by_the_operators_own_files(home, tmp_path):
    """F7: the signer's state file in the data folder used to count as an external
    checkpoint, so a rewritten and re-signed log passed `verify --require-checkpoint`."""
    path, _ = home
    evaluator = tmp_path / "evaluator"
    assert run("checkpoint", "--out", str(evaluator / "kept.note")).exit_code == 0
    _rewrite_and_resign(path)
    r = run("verify", "--require-checkpoint")
    assert r.exit_code == 2
    assert r.stderr == ("cannot check: --require-checkpoint: give a checkpoint you kept outside the operator's "
                        "data folder (--checkpoint FILE or --checkpoints DIR)\n")
    assert r.stdout == ""
    # A note in the data folder is the operator's word too: checked, never external.
    r = run("verify", "--require-checkpoint", "--checkpoint", str(path / "latest.note"))
    assert r.exit_code == 2 and r.stderr.startswith("cannot check: --require-checkpoint")
    r = run("verify", "--checkpoint", str(path / "latest.note"))
    assert r.exit_code == 0 and "is in the operator's data folder, so it is not counted as external" in r.stdout
    assert "WARNING: no checkpoint from outside the database" in r.stdout
    # The evaluator's own checkpoint names the problem.
    r = run("verify", "--require-checkpoint", "--checkpoint", str(evaluator / "kept.note"))
    assert r.exit_code == 1
    assert r.stdout.startswith("TAMPERED: leaf 0: checkpoint ") and "kept.note: recomputed root differs" in r.stdout
    assert "history rewritten within leaves [0,30)" in r.stdout
    r = run("verify", "--require-checkpoint", "--checkpoints", str(evaluator))
    assert r.exit_code == 1 and "history rewritten within leaves [0,30)" in r.stdout


def test_verify_with_an_untouched_store_and_an_evaluators_folder(home, tmp_path):
    path, _ = home
    evaluator = tmp_path / "evaluator"
    assert run("checkpoint", "--out", str(evaluator / "first.note")).exit_code == 0
    app = make_app(path / "events.sqlite")
    app.open("later", lines=1)
    app.close()
    assert run("checkpoint", "--out", str(evaluator / "second.note")).exit_code == 0
    (evaluator / "README.txt").write_text("not a checkpoint")
    r = run("verify", "--require-checkpoint", "--checkpoints", str(evaluator))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK: 32 leaves re-derived from 32 stored events")
    assert "the aggregate index of 2 external checkpoint(s) re-derived" in r.stdout
    assert "WARNING" not in r.stdout
    r = run("verify", "--checkpoints", str(tmp_path / "nowhere"))
    assert r.exit_code == 2 and r.stderr.startswith("cannot check: ")


def test_signer_refuses_and_consistency(home, tmp_path):
    path, ids = home
    tmp_path = tmp_path / "evaluator"
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


def _bundle_file(tmp_path, bundle, name):
    out = tmp_path / "evaluator" / name
    out.write_text(json.dumps(bundle))
    return str(out)


TRIMS = {
    "last event dropped": lambda b: b["events"].pop(),
    "middle event dropped": lambda b: b["events"].pop(1),
    "events reordered": lambda b: b["events"].insert(0, b["events"].pop(1)),
    "last event and completeness dropped": lambda b: (b["events"].pop(), b.pop("completeness")),
}


@pytest.mark.parametrize("trim", list(TRIMS))
def test_verify_bundle_require_complete_catches_every_trim(home, tmp_path, trim):
    """F9: each edit of a bundle from `cobuild audit bundle` fails `verify-bundle
    --require-complete` with exit 1 (the last with the completeness proof dropped too used
    to pass with exit 0)."""
    _, ids = home
    r = run("bundle", str(ids[4]))
    assert r.exit_code == 0, r.stderr
    bundle = json.loads(r.stdout)
    assert run("verify-bundle", "--require-complete", _bundle_file(tmp_path, bundle, "ok.json")).exit_code == 0
    TRIMS[trim](bundle)
    r = run("verify-bundle", "--require-complete", _bundle_file(tmp_path, bundle, "trimmed.json"))
    assert r.exit_code == 1 and r.stdout.startswith("TAMPERED: "), r.stdout


def test_verify_bundle_catches_another_records_event(home, tmp_path):
    _, ids = home
    mine = json.loads(run("bundle", str(ids[4])).stdout)
    theirs = json.loads(run("bundle", str(ids[5])).stdout)
    mine["events"][1] = theirs["events"][1]
    r = run("verify-bundle", "--require-complete", _bundle_file(tmp_path, mine, "swapped.json"))
    assert r.exit_code == 1 and f"belongs to aggregate {ids[5]}, not {ids[4]}" in r.stdout
