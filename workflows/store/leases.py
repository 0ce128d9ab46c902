"""Processes that must run once per database: the holder of a named lock does the work.

The scheduler (timers and policies), the relay (one ordered publisher of the event log) and
the checkpoint signer must each run in one copy, whatever runs them.  Each takes a
:class:`Lease` on its role at start and checks it on every round; a second copy is refused
(or waits, to stand by).

- On PostgreSQL the lease is a session advisory lock held by a connection of its own.  The
  server releases it when the process ends or its connection drops, so a crashed holder never
  blocks its successor; keepalives on that connection bound how long a vanished machine holds it.
- On SQLite it is ``flock`` on a file beside the event store (under ``COBUILD_HOME`` by
  default), released by the kernel when the process ends.

Both are keyed by the database, not the machine: two data folders never exclude each other,
and two processes on one database always do.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from workflows.store.outages import OutageWatch, is_outage
from workflows.store.settings import Settings

ROLE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
log = logging.getLogger("cobuild.leases")


class AlreadyRunning(RuntimeError):
    """Another process holds the role."""

    def __init__(self, role: str, holder: str) -> None:
        super().__init__(f"another cobuild {role} is already running ({holder or 'holder unknown'})")
        self.role = role
        self.holder = holder


class LeadershipLost(RuntimeError):
    """The lease is gone (connection dropped, lock file removed): stop working at once."""


def acquire(settings: Settings, role: str, *, wait: bool = False, timeout: float | None = None,
            poll: float = 1.0, cancel: threading.Event | None = None,
            on_standby: Callable[[str], None] | None = None,
            say: Callable[[str], None] = log.warning) -> "Lease":
    """Take the lease on ``role``, or raise :class:`AlreadyRunning`.

    With ``wait`` the caller stands by until the holder goes away (or ``timeout`` seconds
    have passed, polling every ``poll`` seconds; or ``cancel`` is set, for a thread that
    stands by until its process stops), and ``on_standby`` is told once whom it waits for;
    without it a held role is refused at once.

    While the database cannot be reached (restarting, unreachable) nobody can say whether
    the role is free: the attempt is repeated with backoff (within ``timeout`` if given,
    until ``cancel`` is set), saying one line to ``say`` when that starts and one when it
    ends, and a new connection is made for each attempt.
    """
    if not ROLE.match(role):
        raise ValueError(f"role {role!r} must be lower-case letters, digits and dashes")
    deadline = None if timeout is None else time.monotonic() + timeout
    outage = OutageWatch(f"the {role} lease", say)
    told = False

    def pause(seconds: float) -> bool:
        """Wait; False if cancelled or out of time."""
        if deadline is not None:
            seconds = min(seconds, max(deadline - time.monotonic(), 0))
        if cancel is None:
            time.sleep(seconds)
        elif cancel.wait(seconds):
            return False
        return deadline is None or time.monotonic() < deadline

    while True:
        lease: Lease | None = None
        try:
            lease = PostgresLease(settings, role) if settings.is_postgres else FileLease(settings, role)
            while True:
                if lease.try_take():
                    outage.recovered()
                    return lease
                outage.recovered()
                holder = lease.holder()
                if not wait:
                    raise AlreadyRunning(role, holder)
                if not told and on_standby is not None:
                    on_standby(holder or "holder unknown")
                    told = True
                if not pause(poll):
                    raise AlreadyRunning(role, holder)
        except Exception as error:
            if lease is not None:
                lease.close()
            if not is_outage(error):
                raise
            if not pause(outage.failed(error)):
                raise AlreadyRunning(role, "the database did not answer") from error
        except BaseException:
            if lease is not None:
                lease.close()
            raise


def holder(settings: Settings, role: str) -> str:
    """Who holds ``role`` now ('' if nobody), for operators and tests; takes nothing on
    PostgreSQL, and on SQLite only for the instant of a shared-lock probe."""
    probe: Lease = PostgresLease(settings, role) if settings.is_postgres else FileLease(settings, role)
    try:
        return probe.held_by()
    finally:
        probe.close()


def whoami(role: str) -> str:
    return f"cobuild-{role} pid {os.getpid()} on {socket.gethostname()}"


class Lease(ABC):
    role: str

    @abstractmethod
    def try_take(self) -> bool:
        """Take the lock if it is free."""

    @abstractmethod
    def holder(self) -> str:
        """Who holds the lock, for the refusal message."""

    @abstractmethod
    def held_by(self) -> str:
        """Who holds the lock ('' if nobody), without taking it."""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`LeadershipLost` unless this process still holds the role."""

    @abstractmethod
    def close(self) -> None:
        """Give the role up."""

    def release(self) -> None:
        self.close()

    def watch(self, on_lost: Callable[[LeadershipLost], None], every: float = 5.0) -> threading.Thread:
        """Check the lease every ``every`` seconds in the background; call ``on_lost`` once
        if it is gone, so a process whose loop does not call :meth:`check` stops too."""
        stop = self._released = threading.Event()

        def run() -> None:
            while not stop.wait(every):
                try:
                    self.check()
                except LeadershipLost as lost:
                    if not stop.is_set():
                        on_lost(lost)
                    return

        thread = threading.Thread(target=run, name=f"lease-{self.role}", daemon=True)
        thread.start()
        return thread

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _stop_watching(self) -> None:
        released = getattr(self, "_released", None)
        if released is not None:
            released.set()


def advisory_key(role: str) -> int:
    """A stable signed 64-bit key per role (advisory locks share one key space per database)."""
    digest = hashlib.sha256(f"cobuild:{role}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLease(Lease):
    def __init__(self, settings: Settings, role: str) -> None:
        import psycopg

        self.role = role
        self.key = advisory_key(role)
        self._errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self.conn = psycopg.connect(
            settings.database_url, autocommit=True, application_name=whoami(role)[:63],
            # The client notices a dead server, and the server a dead client, within about a
            # minute instead of the kernel's two hours: a vanished holder frees the role.
            keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
        self.conn.execute("SET tcp_keepalives_idle = 30")
        self.conn.execute("SET tcp_keepalives_interval = 10")
        self.conn.execute("SET tcp_keepalives_count = 3")

    def try_take(self) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        return bool(row and row[0])

    # pg_locks shows a bigint advisory key as classid (high half) and objid (low half).
    HOLDER = """
        SELECT a.application_name, a.pid, a.client_addr
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid::bigint = %s AND l.objid::bigint = %s
    """

    def _halves(self) -> tuple[int, int]:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        return unsigned >> 32, unsigned & 0xFFFFFFFF

    def holder(self) -> str:
        row = self.conn.execute(self.HOLDER, self._halves()).fetchone()
        if row is None:
            return ""
        name, pid, addr = row
        return f"{name or 'unnamed'}, server pid {pid}, from {addr or 'local socket'}"

    def held_by(self) -> str:
        return self.holder()

    def check(self) -> None:
        try:
            row = self.conn.execute(
                self.HOLDER + " AND l.pid = pg_backend_pid()", self._halves()).fetchone()
        except self._errors as error:
            raise LeadershipLost(f"lost the {self.role} lease: {error}") from error
        if row is None:
            raise LeadershipLost(f"lost the {self.role} lease")

    def close(self) -> None:
        # Closing the session releases its advisory locks.
        self._stop_watching()
        try:
            self.conn.close()
        except self._errors:
            pass  # the connection is already gone, and with it the lock


class FileLease(Lease):
    def __init__(self, settings: Settings, role: str) -> None:
        self.role = role
        store = Path(settings.eventsourcing_env()["SQLITE_DBNAME"])
        self.path = store.with_name(f"{store.name}.{role}.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # flock, not lockf: flock locks belong to the open file, so a second lease in the
        # same process is refused too, as it would be from another process.
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def try_take(self) -> bool:
        assert self.fd is not None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, whoami(self.role).encode(), 0)
        except OSError as error:
            if not is_outage(error):
                raise
            # A full or read-only disk: the lock is held all the same; only its holder's
            # name, which operators read, could not be written.
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            return ""

    def held_by(self) -> str:
        assert self.fd is not None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return self.holder() or "unknown"
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        return ""

    def check(self) -> None:
        if self.fd is None:
            raise LeadershipLost(f"the {self.role} lease was released")
        try:
            same = os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise LeadershipLost(f"the lock file {self.path} was removed or replaced")

    def close(self) -> None:
        self._stop_watching()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
