"""Operations: ``cobuild migrate``, and running a command in one copy per database.

``cobuild migrate`` is what an upgrade runs before the new processes start; two at once are
serialised by the ``migrate`` lease, and a second run finds nothing to do.

:class:`SingleCopy` is how the long-running commands that must run once (the relay, the
worker) take their lease; the checkpoint signer waits its turn instead (``api.cli.audit``),
and ``cobuild serve``'s threads stand by (``api.serve.EmbeddedRole``)::

    with SingleCopy(settings, "relay", standby) as copy:
        running = Relay(...)
        copy.guard(running.stop)
        running.run(interval, report)
"""
from __future__ import annotations

import sys
import threading
from typing import Callable

import click

from api.cli.common import root
from workflows.store.settings import Settings
from workflows.store.leases import AlreadyRunning, Lease, LeadershipLost, acquire
from workflows.store.schema import migrate as apply_pending
from workflows.store.schema import status


@click.command()
@click.option("--check", is_flag=True,
              help="Change nothing; exit with status 1 if the schema needs upgrading.")
def migrate(check: bool) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    settings = root().settings  # the root imports every store, so their steps are known
    if check:
        behind = False
        for component, known, applied in status(settings):
            mark = "ok" if applied >= known else "needs upgrading"
            behind = behind or applied < known
            click.echo(f"{component}: database v{applied}, code v{known} ({mark})")
        sys.exit(1 if behind else 0)
    done = apply_pending(settings)
    for s in done:
        click.echo(f"applied {s.component} v{s.version}: {s.description}")
    if not done:
        click.echo("the schema is up to date; nothing was changed.")


class SingleCopy:
    """Holds ``role`` for the duration of a command, or refuses to start it.

    A second copy is refused with one line and exit status 1; with ``standby`` it waits
    until the holder stops and then takes over.  If the lease is lost while running (its
    database connection dropped), the loop is stopped and the command exits with status 1
    so that the process manager restarts it, as a standby.
    """

    def __init__(self, settings: Settings, role: str, standby: bool = False) -> None:
        try:
            self.lease: Lease = acquire(settings, role, wait=standby)
        except AlreadyRunning as error:
            raise click.ClickException(
                f"{error}; nothing was started (with --standby it waits to take over)") from None
        self.lost: LeadershipLost | None = None
        self._noticed = threading.Lock()

    def guard(self, stop: Callable[[], None], every: float = 5.0) -> None:
        def lost(error: LeadershipLost) -> None:
            with self._noticed:
                self.lost = error
            click.echo(f"cobuild: {error}; stopping", err=True)
            stop()

        self.lease.watch(lost, every)

    def __enter__(self) -> "SingleCopy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.lease.close()
        if self.lost is not None and exc[0] is None:
            raise click.ClickException(f"{self.lost}; stopped")
