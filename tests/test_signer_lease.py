"""The checkpoint signer runs in one copy per store: a second one waits for the first, then
signs the newer head, or gives up with one line; checkpoints only ever grow."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli.audit import SignerBusy, audit, lease_settings, make_checkpoint, signer_lease
from tests.support import COUNTY
from workflows.store.leases import holder

ROOT = Path(__file__).resolve().parent.parent
SIGN = "from api.cli.audit import audit; audit(prog_name='cobuild audit')"


@pytest.fixture
def db(settings, engine, cast):
    cast.pairing_in_force()
    return settings.database_url if settings.is_postgres else settings.event_store_path


@pytest.fixture
def env(settings, monkeypatch):
    for name, value in settings.environ().items():
        monkeypatch.setenv(name, value)
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def write(cast, n: int) -> None:
    cast.engine.register_organisation(cast.admin, f"S{n}", f"第{n}村党支部", "village", f"{COUNTY}101201")


def tree_size(engine) -> int:
    return engine.recorder.audit.tree_size()


def checkpoints(engine) -> list[tuple[int, float]]:
    """(tree size, when stored), in the order they were stored."""
    with engine.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("SELECT tree_size, created_at FROM audit_checkpoint ORDER BY created_at")
        rows = cursor.fetchall()
    # PostgreSQL's cursor here gives dicts, SQLite's tuples.
    return [(int(r["tree_size"]), float(r["created_at"])) if isinstance(r, dict) else (int(r[0]), float(r[1]))
            for r in rows]


def test_a_second_signer_told_not_to_wait_refuses_in_one_line_and_signs_nothing(db, env, engine):
    with signer_lease(db):
        r = CliRunner().invoke(audit, ["checkpoint", "--wait", "0"])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cannot sign: another cobuild signer is already running (cobuild-signer pid")
    assert lines[0].endswith("did not wait, nothing was signed")
    assert checkpoints(engine) == []


def test_a_signer_that_waits_in_vain_gives_up_and_says_how_long(db, settings, tmp_path):
    with signer_lease(db):
        with pytest.raises(SignerBusy, match="already running.*waited 0.3 s, nothing was signed"):
            make_checkpoint(db, tmp_path / "keys", wait=0.3)


def test_a_waiting_signer_signs_the_head_after_the_holder_lets_go(db, engine, cast, tmp_path):
    keys = tmp_path / "keys"
    first = make_checkpoint(db, keys)
    holding = signer_lease(db)
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(make_checkpoint, db, keys, wait=30)
        # Written while the second signer waits: it reads the head only once it holds the lease.
        write(cast, 1)
        assert not second.done()
        holding.close()
        note = second.result(timeout=30)
    assert int(first.splitlines()[1]) < int(note.splitlines()[1]) == tree_size(engine)
    assert [size for size, _ in checkpoints(engine)] == [int(first.splitlines()[1]), tree_size(engine)]
    assert holder(lease_settings(db), "signer") == ""


def test_signers_started_together_from_cron_wait_their_turn_and_the_checkpoints_only_grow(
        db, env, engine, cast):
    """Three signer processes start while a signer holds the lease and events are written:
    none signs while it is held; once freed, each signs the head it finds in turn, so every
    stored checkpoint is at least as large as the one stored before it."""
    writing = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not writing.is_set():
            n += 1
            write(cast, n)

    writer = threading.Thread(target=keep_writing)
    holding = signer_lease(db)
    writer.start()
    try:
        signers = [subprocess.Popen([sys.executable, "-c", SIGN, "checkpoint", "--wait", "120"], env=env,
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(3)]
        time.sleep(4)  # long enough for them to start and, were there no lease, to sign
        assert [p.poll() for p in signers] == [None, None, None]
        assert checkpoints(engine) == []
        holding.close()
        results = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in signers]
    finally:
        holding.close()
        writing.set()
        writer.join()
    for code, _, err in results:
        assert code == 0, err
    sizes = [size for size, _ in checkpoints(engine)]
    assert sizes == sorted(sizes)
    # Two signers finding the same head store one row for it.
    assert {int(out.splitlines()[1]) for _, out, _ in results} == set(sizes)


def test_the_api_signs_under_the_same_lease_and_answers_503_while_another_signer_holds_it(
        settings, engine, monkeypatch):
    from api.http import audit as audit_api
    from api.http.app import create_app
    from api.root import Root
    from tests.api_support import JsonClient, TokenCast

    cast = TokenCast.create(engine)
    http = JsonClient(create_app(Root(settings, engine)).test_client())
    db = settings.database_url if settings.is_postgres else settings.event_store_path
    monkeypatch.setattr(audit_api, "SIGNER_WAIT", 0.3)
    with signer_lease(db):
        busy = http.get("/api/v1/audit/checkpoint", cast.tokens["evaluator"])
    assert busy.status == 503 and busy.json["code"] == "signer-busy", busy.content
    assert busy.header("Retry-After") == "5"
    assert "another cobuild signer is already running" in busy.json["detail"]
    assert checkpoints(engine) == []
    signed = http.get("/api/v1/audit/checkpoint", cast.tokens["evaluator"])
    assert signed.status == 200, signed.content
    assert int(signed.content.decode().splitlines()[1]) == tree_size(engine)
    assert [size for size, _ in checkpoints(engine)] == [tree_size(engine)]


def test_the_api_and_the_command_line_signing_at_once_share_one_key_and_never_deadlock(
        settings, engine, cast):
    """The API's signer (``latest``) and ``cobuild audit checkpoint`` (``sign``) on one store
    and one key directory, at the same time while events are written, from a fresh folder:
    both take the key directory's lock and then the lease, in that order, so none waits on
    the other in vain, the key is made once, and every note they hand out verifies with it."""
    from api.http.app import create_app
    from api.root import Root
    from tests.api_support import JsonClient
    from workflows.audit.checkpoint import KeyDirectory
    from workflows.audit.verifier import open_note

    evaluator = engine.issue_token(cast.admin, uuid.UUID(cast.evaluator.user_id))
    http = JsonClient(create_app(Root(settings, engine)).test_client())
    db = settings.database_url if settings.is_postgres else settings.event_store_path
    assert not KeyDirectory(settings.keys_folder).exists()
    stop = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            write(cast, n)

    def api() -> list[str]:
        out = []
        for _ in range(6):
            answer = http.get("/api/v1/audit/checkpoint", evaluator)
            assert answer.status == 200, answer.content
            out.append(answer.content.decode())
        return out

    def command_line() -> list[str]:
        return [make_checkpoint(db, settings.keys_folder, wait=60) for _ in range(6)]

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            runs = [pool.submit(f) for f in (api, command_line, api, command_line)]
            seen = [run.result(timeout=300) for run in runs]
    finally:
        stop.set()
        writer.join()
    key = KeyDirectory(settings.keys_folder).verifier_key()  # also: the key pair matches
    for notes in seen:
        for note in notes:
            open_note(note, key)  # raises unless this one key signed it
        sizes = [int(note.splitlines()[1]) for note in notes]
        assert sizes == sorted(sizes)  # what each signer hands out only grows
