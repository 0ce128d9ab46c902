"""A long-running command in one copy per database: refused, standing by, taken again after a loss."""
from __future__ import annotations

import os
import threading
import time

import click
import pytest

from api.cli.ops import SingleCopy
from workflows.store.leases import acquire, holder


@pytest.fixture
def store(settings):
    settings.ensure_home()
    return settings


def test_a_second_copy_is_refused_with_one_line(store):
    with SingleCopy(store, "relay"):
        with pytest.raises(click.ClickException, match="already running.*--standby"):
            SingleCopy(store, "relay")


def test_the_lease_is_released_when_the_command_ends(store):
    with SingleCopy(store, "relay") as command:
        command.lease.check()
    with acquire(store, "relay") as after:  # taken at once: the command's lease was released
        after.check()


def test_a_lost_lease_stops_the_work_at_once_then_the_command_takes_it_again_and_resumes(store, engine):
    """A database restart ends the lease's session: the command does not exit (nothing
    would restart it on a bare host) but stops its worker, stands by, takes the lease again
    and runs a fresh worker from the saved position."""
    from workflows.scheduler import Worker, open_worker_state

    state = open_worker_state(store)
    made: list[Worker] = []

    def make() -> Worker:
        made.append(Worker(engine, state))
        return made[-1]

    with SingleCopy(store, "scheduler") as copy:
        running = threading.Thread(target=copy.keep, args=(make, 0.05, lambda report: None),
                                   kwargs={"every": 0.05})
        running.start()
        try:
            until(lambda: made)
            first_lease = copy.lease
            if store.is_postgres:
                import psycopg

                with psycopg.connect(store.database_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (first_lease.conn.info.backend_pid,))
            else:
                first_lease.path.unlink()
            until(lambda: len(made) == 2)
            assert made[0]._stop.is_set()  # the first worker was stopped, not left running
            assert copy.lease is not first_lease
            copy.lease.check()  # held again, by this process
            assert str(os.getpid()) in holder(store, "scheduler")
        finally:
            copy.stop()
            running.join(10)
    assert not running.is_alive()
    state.close()


def until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
