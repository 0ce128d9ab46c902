"""Which errors are outages (ride them out, answer 503) and which are bugs (stop, answer 500):
decided by type in one place, ``workflows.store.outages``, on errors the real libraries raise.

Also: what the supervision files in deploy/ start are commands that exist, and a standby
says whom it waits for."""
from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from workflows.store.outages import Backoff, OutageWatch, describe, is_outage, keep_running

ROOT = Path(__file__).resolve().parent.parent


def _raised(call) -> BaseException:
    try:
        call()
    except BaseException as error:
        return error
    raise AssertionError("nothing was raised")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sqlite_locked_read_only_and_unopenable_are_outages_a_bad_statement_is_not(tmp_path):
    path = tmp_path / "x.sqlite"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    writer.execute("BEGIN IMMEDIATE")
    locked = sqlite3.connect(path, timeout=0)
    assert is_outage(_raised(lambda: locked.execute("INSERT INTO t VALUES (1)")))
    writer.execute("ROLLBACK")
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert is_outage(_raised(lambda: read_only.execute("INSERT INTO t VALUES (1)")))
    assert is_outage(_raised(lambda: sqlite3.connect(tmp_path / "gone" / "x.sqlite")))
    assert not is_outage(_raised(lambda: writer.execute("SELEC 1")))
    writer.execute("INSERT INTO t VALUES (1)")
    assert not is_outage(_raised(lambda: writer.execute("INSERT INTO t VALUES (1)")))


def test_eventsourcing_wrapping_is_seen_through(tmp_path):
    from eventsourcing.persistence import OperationalError, ProgrammingError

    def wrapped(error: BaseException, as_: type[Exception]) -> BaseException:
        try:
            raise as_(str(error)) from error
        except as_ as outer:
            return outer

    full = sqlite3.OperationalError("database or disk is full")
    assert is_outage(wrapped(full, OperationalError))
    assert not is_outage(wrapped(sqlite3.OperationalError("no such table: x"), OperationalError))
    assert not is_outage(wrapped(ValueError("bad"), ProgrammingError))


def test_a_full_disk_and_a_read_only_file_system_are_outages_a_missing_file_is_not():
    assert is_outage(OSError(28, "No space left on device"))
    assert is_outage(OSError(30, "Read-only file system"))
    assert not is_outage(FileNotFoundError(2, "No such file or directory"))
    assert not is_outage(KeyError("x"))


def test_a_database_that_refuses_connections_is_an_outage():
    psycopg = pytest.importorskip("psycopg")
    error = _raised(lambda: psycopg.connect(f"postgresql://x:y@127.0.0.1:{_closed_port()}/z",
                                            connect_timeout=2))
    assert is_outage(error)


def test_a_broker_that_refuses_connections_is_an_outage():
    from kombu import Connection

    with Connection(f"amqp://guest:guest@127.0.0.1:{_closed_port()}//", connect_timeout=2) as conn:
        error = _raised(lambda: conn.ensure_connection(max_retries=1, interval_start=0))
    assert is_outage(error)
    assert "refused" in describe(error).lower()


def test_backoff_grows_to_its_cap_with_jitter_and_starts_again_after_a_success():
    backoff = Backoff(first=0.5, cap=4.0)
    delays = [backoff.next() for _ in range(8)]
    assert all(0.25 <= d <= 4.0 for d in delays)
    assert max(delays[4:]) > 2.0  # capped at 4, drawn from its upper half
    backoff.reset()
    assert backoff.next() <= 0.5


def test_a_loop_says_one_line_when_the_outage_starts_and_one_when_it_ends():
    said: list[str] = []
    stop = threading.Event()
    rounds = iter([OSError(28, "No space left on device")] * 5 + [None] * 1000)

    def round_() -> None:
        error = next(rounds)
        if error is not None:
            raise error
        if sum(1 for _ in said) >= 2:
            stop.set()

    keep_running(round_, stop, 0.0, OutageWatch("relay", said.append, first=0.001, cap=0.002),
                 resumed=lambda: "publishing from position 7")
    assert len(said) == 2, said
    assert said[0].startswith("relay: unavailable ([Errno 28] No space left on device); retrying with backoff")
    assert re.match(r"relay: recovered after \d+\.\d s; publishing from position 7", said[1])


def test_a_bug_is_not_ridden_out():
    with pytest.raises(ZeroDivisionError):
        keep_running(lambda: 1 / 0, threading.Event(), 0.0, OutageWatch("worker", print))


def test_a_standby_says_whom_it_waits_for(settings):
    from api.cli.ops import SingleCopy

    settings.ensure_home()
    env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT)}
    with SingleCopy(settings, "relay"):
        standby = subprocess.Popen(
            [sys.executable, "-c", "from api.cli.main import main; main()", "relay", "--standby"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            line = standby.stderr.readline()
        finally:
            standby.terminate()
            standby.wait(30)
    assert line.startswith("cobuild relay: standing by: the relay is held by cobuild-relay pid "
                           f"{os.getpid()} on "), line


def _exec_lines() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.suffix == ".service":
            text = path.read_text().replace("\\\n", " ")
            found += [(path.name, line.split("=", 1)[1]) for line in text.splitlines()
                      if line.startswith(("ExecStart=", "ExecStartPre="))]
        elif path.name == "Procfile":
            found += [(path.name, line.split(":", 1)[1].strip())
                      for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return found


@pytest.mark.parametrize("where,command", _exec_lines())
def test_every_supervised_command_exists_with_its_options(where, command):
    argv = command.split()
    program = Path(argv[0]).name
    if program == "gunicorn":
        assert argv[-1] == "api.wsgi:app"
        return
    assert program == "cobuild", (where, command)
    done = subprocess.run([sys.executable, "-c", "from api.cli.main import main; main()", *argv[1:],
                           "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, (where, command, done.stderr)


def test_the_units_restart_what_dies_and_do_not_stop_with_the_database():
    for path in (ROOT / "deploy" / "systemd").glob("cobuild-*.service"):
        text = path.read_text()
        assert "Requires=" not in text and "BindsTo=" not in text, path.name
        if "Type=oneshot" not in text:
            assert "Restart=always" in text and "StartLimitIntervalSec=0" in text, path.name
