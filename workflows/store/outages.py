"""Outages: which errors mean "the store or the broker is not there now", and riding them out.

One place decides, by type, whether an error is an outage (the database restarting or
unreachable, the disk full or read-only, SQLite locked beyond its timeout, the broker down)
rather than a bug.  The API answers an outage with 503 and ``Retry-After``
(``api/http/app.py``); the long-running loops (relay, worker, projections, consumer, lease
holders and standbys) back off and try again, saying one line when the outage starts and
one when it ends, and resume from the positions they saved.

The chain of causes is followed: ``eventsourcing`` wraps ``sqlite3`` and ``psycopg`` errors
in its own (``raise OperationalError(e) from e``).
"""
from __future__ import annotations

import errno
import random
import sqlite3
import threading
import time
from typing import Callable, Iterator

import kombu.exceptions

from eventsourcing import persistence

# SQLite's primary result codes that mean "not now" rather than "wrong": the database is
# busy or locked beyond the timeout, the disk is full, an I/O error, a read-only file or
# folder, a file that cannot be opened (its folder gone or unwritable).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_PROTOCOL = 13, 14, 15
_SQLITE_OUTAGES = frozenset({_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR,
                             _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_PROTOCOL})
# The file-system errors of a full or read-only disk (lock files, the filesystem broker).
_OS_OUTAGES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
# eventsourcing's own "the connection is not there" errors (pool exhausted or closed).
_EVENTSOURCING_OUTAGES = (persistence.OperationalError, persistence.InterfaceError,
                          persistence.ConnectionUnavailableError)


def _psycopg_outages() -> tuple[type[BaseException], ...]:
    try:
        import psycopg
    except ImportError:  # SQLite-only installs have no psycopg
        return ()
    # OperationalError covers a refused or dropped connection, AdminShutdown (a restart),
    # CannotConnectNow (starting up) and psycopg_pool's PoolTimeout; InterfaceError a
    # connection that was closed under us; ReadOnlySqlTransaction a primary demoted to standby.
    return (psycopg.OperationalError, psycopg.InterfaceError,
            psycopg.errors.ReadOnlySqlTransaction)


_PSYCOPG = _psycopg_outages()
_BROKER = (kombu.exceptions.OperationalError, ConnectionError, TimeoutError)


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_sqlite_outage(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_OUTAGES
    # An error sqlite3 raised without a code (older Python): its message is all there is.
    text = str(error)
    return any(part in text for part in ("database or disk is full", "disk I/O error",
                                         "readonly database", "database is locked",
                                         "unable to open database file"))


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) means the database, the disk or the
    broker is unavailable now, so that the same act may succeed later."""
    for cause in _causes(error):
        if isinstance(cause, sqlite3.Error):
            if _is_sqlite_outage(cause):
                return True
        elif isinstance(cause, OSError):
            if isinstance(cause, (ConnectionError, TimeoutError)) or cause.errno in _OS_OUTAGES:
                return True
        elif _PSYCOPG and isinstance(cause, _PSYCOPG):
            return True
        elif isinstance(cause, _BROKER):
            return True
    # eventsourcing raises OperationalError(str(e)) from e; the loop above saw its cause.
    return isinstance(error, _EVENTSOURCING_OUTAGES) and error.__cause__ is None \
        and error.__context__ is None


def describe(error: BaseException) -> str:
    """One line saying what is unavailable: the innermost cause's message."""
    innermost = list(_causes(error))[-1]
    text = " ".join(str(innermost).split()) or type(innermost).__name__
    return text[:200]


class Backoff:
    """Exponential backoff with a cap and full jitter: ``first``, ``2 × first`` ... up to
    ``cap`` seconds, each delay drawn uniformly from its upper half so that processes that
    lost the same server do not come back in step."""

    def __init__(self, first: float = 0.5, cap: float = 15.0) -> None:
        self.first = first
        self.cap = cap
        self.attempts = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0


class OutageWatch:
    """Says one line when an outage starts and one when it ends; never one per attempt.

    ``failed(error)`` returns how long to wait before the next attempt."""

    def __init__(self, what: str, say: Callable[[str], None], first: float = 0.5,
                 cap: float = 15.0) -> None:
        self.what = what
        self.say = say
        self.backoff = Backoff(first, cap)
        self.since: float | None = None

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException) -> float:
        if self.since is None:
            self.since = time.monotonic()
            self.say(f"{self.what}: unavailable ({describe(error)}); retrying with backoff "
                     f"(up to {self.backoff.cap:g} s between attempts)")
        return self.backoff.next()

    def recovered(self, detail: str = "") -> None:
        if self.since is not None:
            seconds = time.monotonic() - self.since
            self.say(f"{self.what}: recovered after {seconds:.1f} s"
                     f"{'; ' + detail if detail else ''}")
            self.since = None
        self.backoff.reset()


def keep_running(round_: Callable[[], object], stop: threading.Event, interval: float,
                 watch: OutageWatch, resumed: Callable[[], str] = lambda: "",
                 check: Callable[[], None] | None = None) -> None:
    """Run ``round_`` every ``interval`` seconds until ``stop`` is set, riding out outages.

    An outage (:func:`is_outage`) is waited out with backoff; any other error is a bug and
    ends the loop by propagating.  ``resumed`` says where the work resumes, for the
    "recovered" line.  ``check`` runs before every round (a lease's: it raises when the
    role was lost, which ends the loop)."""
    while not stop.is_set():
        if check is not None:
            check()  # outside the try: a lost lease ends the loop, whatever its cause
        try:
            round_()
        except Exception as error:
            if not is_outage(error):
                raise
            stop.wait(watch.failed(error))
            continue
        if watch.down:
            watch.recovered(_safely(resumed))
        stop.wait(interval)


def _safely(describe_position: Callable[[], str]) -> str:
    try:
        return describe_position()
    except Exception as error:
        if is_outage(error):
            return ""
        raise
