"""Operations: ``cobuild migrate``, and running a command in one copy per database.

``cobuild migrate`` is what an upgrade runs before the new processes start; two at once are
serialised by the ``migrate`` lease, and a second run finds nothing to do.

:class:`SingleCopy` is how the long-running commands that must run once (the relay, the
worker) take their lease; the checkpoint signer waits its turn instead (``api.cli.audit``),
and ``cobuild serve``'s threads stand by (``api.serve.EmbeddedRole``)::

    with SingleCopy(settings, "relay", standby) as copy:
        on_signals(copy.stop)
        copy.keep(lambda: Relay(...), interval, report)
"""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Protocol

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


class Stoppable(Protocol):
    def run(self, interval: float, report: Callable[[Any], None], *, say: Callable[[str], None],
            check: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...


class SingleCopy:
    """Holds ``role`` for the duration of a command, or refuses to start it.

    A second copy is refused with one line and exit status 1; with ``standby`` it says whom
    it waits for, waits until the holder stops, and takes over.  If the lease is lost while
    running (the database restarted or its connection dropped), the work is stopped at once
    and the command stands by to take the lease again, then resumes from the saved
    position: it does not need a restart.  Outages of the store or the broker while it
    holds the lease are ridden out by the work itself.
    """

    def __init__(self, settings: Settings, role: str, standby: bool = False) -> None:
        self.settings = settings
        self.role = role
        self.lost: LeadershipLost | None = None
        self._stopping = threading.Event()
        try:
            self.lease: Lease = acquire(settings, role, wait=standby, on_standby=self._standing_by,
                                        say=_say(role))
        except AlreadyRunning as error:
            raise click.ClickException(
                f"{error}; nothing was started (with --standby it waits to take over)") from None
        self._waited = standby and self._told
        self._running: Stoppable | None = None

    _told = False

    def _standing_by(self, holder: str) -> None:
        self._told = True
        _say(self.role)(f"standing by: the {self.role} is held by {holder}; "
                        "taking over when it stops")

    def keep(self, make: Callable[[], Stoppable], interval: float,
             report: Callable[[Any], None], every: float = 5.0) -> None:
        """Run ``make()``'s work under the lease until SIGTERM/SIGINT; after a lost lease,
        stand by, take it again and run a fresh ``make()``."""
        say = _say(self.role)
        if self._waited:
            say(f"took over the {self.role}")
        while not self._stopping.is_set():
            running = self._running = make()
            if self._stopping.is_set():
                return
            lost: list[LeadershipLost] = []

            def on_lost(error: LeadershipLost, running: Stoppable = running,
                        lost: list[LeadershipLost] = lost) -> None:
                lost.append(error)
                running.stop()

            self.lease.watch(on_lost, every)
            try:
                running.run(interval, report, say=say, check=self.lease.check)
            except LeadershipLost as error:
                on_lost(error)
            if self._stopping.is_set() or not lost:
                return
            self.lease.close()
            say(f"{lost[0]}; stopped the {self.role}, standing by to take it again")
            try:
                self.lease = acquire(self.settings, self.role, wait=True, cancel=self._stopping,
                                     on_standby=self._standing_by, say=say)
            except AlreadyRunning:
                return  # stopped while standing by
            say(f"took over the {self.role}")

    def stop(self) -> None:
        """Stop the work and do not take the lease again (SIGTERM, SIGINT)."""
        self._stopping.set()
        if self._running is not None:
            self._running.stop()

    def __enter__(self) -> "SingleCopy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.lease.close()


def _say(role: str) -> Callable[[str], None]:
    command = "worker" if role == "scheduler" else role

    def say(line: str) -> None:
        click.echo(f"cobuild {command}: {line}", err=True)

    return say
