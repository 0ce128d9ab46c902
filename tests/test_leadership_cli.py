"""A long-running command in one copy per database: refused, standing by, stopped on loss."""
from __future__ import annotations

import threading

import click
import pytest

from api.cli.ops import SingleCopy
from workflows.store.leases import acquire


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


def test_a_lost_lease_stops_the_loop_and_fails_the_command(store):
    stopped = threading.Event()
    with pytest.raises(click.ClickException, match="lost|removed"):
        with SingleCopy(store, "relay") as copy:
            copy.guard(stopped.set, every=0.05)
            if store.is_postgres:
                import psycopg

                with psycopg.connect(store.database_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (copy.lease.conn.info.backend_pid,))
            else:
                copy.lease.path.unlink()
            assert stopped.wait(10)  # the loop's stop() was called: the command returns
