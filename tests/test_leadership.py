"""One holder per role and database: advisory lock on PostgreSQL, flock on SQLite.

The processes are real: a child Python process takes the lease and holds it until its stdin
closes, and the test (or a second child) competes with it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.support import fresh_settings
from workflows.store.settings import Settings
from workflows.store.leases import AlreadyRunning, LeadershipLost, acquire, holder

ROOT = Path(__file__).resolve().parent.parent

HOLDER = textwrap.dedent("""
    import sys
    from workflows.store.settings import Settings
    from workflows.store.leases import acquire
    role, wait = sys.argv[1], sys.argv[2] == "wait"
    with acquire(Settings.from_env(), role, wait=wait, poll=0.05) as lease:
        print("held", flush=True)
        sys.stdin.read()
        lease.check()
    print("released", flush=True)
""")


class Holder:
    """A child process that holds ``role`` until :meth:`stop`."""

    def __init__(self, settings: Settings, role: str, wait: bool = False) -> None:
        env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, role, "wait" if wait else "now"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def wait_until_held(self) -> None:
        line = self.proc.stdout.readline()
        assert line == "held\n", self.proc.stderr.read()

    def stop(self) -> str:
        out, err = self.proc.communicate("", timeout=30)
        assert self.proc.returncode == 0, err
        return out

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def store(settings: Settings) -> Settings:
    settings.ensure_home()
    return settings


def test_a_second_process_is_refused_while_the_first_holds_the_role(store):
    holder = Holder(store, "relay")
    holder.wait_until_held()
    with pytest.raises(AlreadyRunning) as refused:
        acquire(store, "relay")
    assert f"pid {holder.proc.pid}" in refused.value.holder
    assert holder.stop() == "released\n"

    with acquire(store, "relay") as lease:
        lease.check()


def test_the_role_is_freed_when_the_holder_dies_without_releasing(store):
    holder = Holder(store, "scheduler")
    holder.wait_until_held()
    holder.kill()
    with acquire(store, "scheduler", wait=True, timeout=30, poll=0.1) as lease:
        lease.check()


def test_a_standby_process_takes_over_when_the_holder_stops(store):
    first = Holder(store, "signer")
    first.wait_until_held()
    standby = Holder(store, "signer", wait=True)
    with pytest.raises(AlreadyRunning):
        acquire(store, "signer")  # the standby has not got it: the first still holds it
    first.stop()
    standby.wait_until_held()
    with pytest.raises(AlreadyRunning):
        acquire(store, "signer")
    standby.stop()


def test_waiting_gives_up_after_the_timeout(store):
    with acquire(store, "relay"):
        with pytest.raises(AlreadyRunning):
            acquire(store, "relay", wait=True, timeout=0.3, poll=0.1)


def test_a_second_lease_in_the_same_process_is_refused_too(store):
    with acquire(store, "relay"):
        with pytest.raises(AlreadyRunning):
            acquire(store, "relay")
    with acquire(store, "relay") as again:  # free again once the first holder let go
        again.check()


def test_roles_do_not_exclude_each_other(store):
    with acquire(store, "relay") as relay, acquire(store, "scheduler") as scheduler, \
            acquire(store, "signer") as signer:
        for lease in (relay, scheduler, signer):
            lease.check()


def test_different_databases_do_not_exclude_each_other(store, tmp_path):
    with fresh_settings(tmp_path / "other", os.environ.get("COBUILD_TEST_DATABASE_URL", "")) as other:
        other.ensure_home()
        with acquire(store, "relay") as here, acquire(other, "relay") as there:
            here.check()
            there.check()


def test_a_lost_lease_is_noticed_by_check(store):
    lease = acquire(store, "relay")
    lease.check()
    if store.is_postgres:
        import psycopg

        pid = lease.conn.info.backend_pid
        with psycopg.connect(store.database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    else:
        lease.path.unlink()
    with pytest.raises(LeadershipLost):
        lease.check()
    lease.close()
    with pytest.raises(LeadershipLost):
        lease.check()


def test_role_names_are_checked(store):
    with pytest.raises(ValueError):
        acquire(store, "../relay")


def test_a_watched_lease_reports_its_loss_once(store):
    lost = []
    noticed = threading.Event()
    lease = acquire(store, "relay")
    lease.watch(lambda error: (lost.append(error), noticed.set()), every=0.05)
    if store.is_postgres:
        import psycopg

        with psycopg.connect(store.database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (lease.conn.info.backend_pid,))
    else:
        lease.path.unlink()
    assert noticed.wait(10)
    time.sleep(0.2)
    assert len(lost) == 1 and isinstance(lost[0], LeadershipLost)
    lease.close()


def test_releasing_a_watched_lease_is_not_a_loss(store):
    lost = []
    lease = acquire(store, "relay")
    watcher = lease.watch(lost.append, every=0.05)
    lease.close()
    watcher.join(timeout=5)
    assert not watcher.is_alive() and lost == []


def test_who_holds_a_role_can_be_asked_without_taking_it(store):
    assert holder(store, "relay") == ""
    child = Holder(store, "relay")
    child.wait_until_held()
    assert f"pid {child.proc.pid}" in holder(store, "relay")
    with pytest.raises(AlreadyRunning):
        acquire(store, "relay")
    child.stop()
    assert holder(store, "relay") == ""
