"""`cobuild serve` runs its scheduler and relay under the leases `cobuild worker` and
`cobuild relay` take: next to them (or to another serve) it stands by, never a second copy."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from api.serve import EmbeddedRole
from workflows.store.leases import acquire, holder

ROOT = Path(__file__).resolve().parent.parent
RUN = "from api.cli.workflows import {0}; {0}(prog_name='cobuild {0}')"


def until(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


@pytest.fixture
def store(settings, engine):
    settings.ensure_home()
    return settings


def role(engine, settings, name: str, said: list[str]) -> EmbeddedRole:
    return EmbeddedRole(engine, settings, name, 0.05, say=said.append, poll=0.05, watch_every=0.1).start()


def test_a_role_held_elsewhere_stands_by_while_the_others_run_and_takes_over_when_freed(store, engine):
    said: list[str] = []
    elsewhere = acquire(store, "relay")
    scheduler, relay = role(engine, store, "scheduler", said), role(engine, store, "relay", said)
    try:
        until(lambda: scheduler.active, what="the scheduler")
        until(lambda: any("standing by" in line for line in said), what="the relay to stand by")
        assert not relay.active
        assert len(said) == 1
        assert said[0].startswith(f"the relay runs elsewhere (cobuild-relay pid {os.getpid()} on ")
        assert said[0].endswith("); standing by to take over")
        elsewhere.close()
        until(lambda: relay.active, what="the takeover")
        assert said[-1] == "took over the relay"
    finally:
        elsewhere.close()
        scheduler.stop()
        relay.stop()
    assert not scheduler.active and not relay.active
    assert holder(store, "scheduler") == holder(store, "relay") == ""


def test_of_two_copies_in_one_store_one_works_and_the_other_takes_over_when_it_stops(store, engine):
    said: list[str] = []
    first = role(engine, store, "scheduler", said)
    until(lambda: first.active, what="the first copy")
    second = role(engine, store, "scheduler", said)
    try:
        until(lambda: said, what="the second copy to stand by")
        assert not second.active
        first.stop()
        until(lambda: second.active, what="the takeover")
    finally:
        first.stop()
        second.stop()
    assert said[-1] == "took over the scheduler"


def test_a_lost_lease_stops_the_worker_before_the_thread_stands_by_again(store, engine):
    said: list[str] = []
    relay = role(engine, store, "relay", said)
    try:
        until(lambda: relay.active, what="the relay")
        worker, lease = relay.worker, relay.lease
        if store.is_postgres:
            import psycopg

            with psycopg.connect(store.database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (lease.conn.info.backend_pid,))
        else:
            lease.path.unlink()
        until(lambda: any("stopped the relay" in line for line in said), what="the loss")
        assert worker._stop.is_set()
        # Nobody else holds the role: the thread takes it again, with a new relay.
        until(lambda: relay.active and relay.worker is not worker, what="the new relay")
    finally:
        relay.stop()
    assert [line.split(";")[-1].strip() for line in said] == ["stopped the relay, standing by"]


def test_serve_next_to_a_worker_and_a_relay_serves_the_api_and_stands_by(store, tmp_path):
    env = {**os.environ, **store.environ(), "PYTHONPATH": str(ROOT)}
    started: list[subprocess.Popen] = []

    def start(*argv: str, **kwargs) -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, *argv], env=env, cwd=ROOT, text=True, **kwargs))
        return started[-1]

    try:
        worker = start("-c", RUN.format("worker"), "--interval", "0.2", stdout=subprocess.DEVNULL)
        relay = start("-c", RUN.format("relay"), "--interval", "0.2", stdout=subprocess.DEVNULL)
        until(lambda: f"pid {worker.pid}" in holder(store, "scheduler")
              and f"pid {relay.pid}" in holder(store, "relay"), 120, "the worker and the relay")
        serve = start("-m", "api.serve", "--port", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        base = serve.stdout.readline().split(" on ", 1)[1].split("/api/v1", 1)[0]
        errors: list[str] = []
        reader = threading.Thread(target=lambda: errors.extend(serve.stderr), daemon=True)
        reader.start()
        until(lambda: len(errors) >= 2, 60, "serve to report both roles")
        assert sorted(line.split(" (")[0] for line in errors) == [
            "cobuild serve: the relay runs elsewhere", "cobuild serve: the scheduler runs elsewhere"]
        with urllib.request.urlopen(f"{base}/api/openapi.json", timeout=10) as answer:
            assert answer.status == 200
            # A production server (waitress), not Werkzeug's development server, and no
            # banner naming software or versions.
            banner = answer.headers.get("Server", "")
            assert not re.search(r"\d|werkzeug|waitress|python", banner, re.I), banner

        relay.send_signal(signal.SIGTERM)
        assert relay.wait(60) == 0
        until(lambda: f"pid {serve.pid}" in holder(store, "relay"), 30, "serve to take the relay")
        assert f"pid {worker.pid}" in holder(store, "scheduler")

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0
        reader.join(10)
        ours = [line for line in errors if line.startswith("cobuild serve:")]  # not werkzeug's request log
        assert ours[2:] == ["cobuild serve: took over the relay\n"]
        assert holder(store, "relay") == ""
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()
