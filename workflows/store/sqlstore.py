"""A small relational store that lives where the deployment's data lives.

The engine's side stores (the worker's timer index, the relay's position, a consumer's
inbox, idempotency records, the projections) are a few tables each.  Embedded, each is a
SQLite file in ``COBUILD_HOME``; in production they must be in the PostgreSQL database, so
that every process on every host sees the same rows and one backup holds them all.

:class:`SqlStore` gives both with one body of SQL, written in the subset the two share:

- placeholders are ``?`` (translated to ``%s`` for PostgreSQL; so no literal ``?`` in SQL);
- column types ``BIGINT``, ``TEXT``, ``DOUBLE PRECISION``, ``BYTEA`` (SQLite stores each with
  the right affinity; never ``INTEGER`` for positions, which is 32-bit in PostgreSQL);
- ``INSERT ... ON CONFLICT (...) DO NOTHING | DO UPDATE SET col = excluded.col``;
- table names prefixed by the store's purpose (one PostgreSQL database holds them all).

Transactions keep SQLite's semantics on PostgreSQL, so code written against one is correct
on the other:

- :meth:`SqlStore.write` is one transaction, and the writers of one store are serialised
  (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level advisory lock named after
  the store), so "read the position, apply, move the position" cannot interleave;
- :meth:`SqlStore.read` sees one consistent snapshot (PostgreSQL: ``REPEATABLE READ``).

The store's DDL is applied once by ``cobuild migrate``: register it with
:func:`workflows.store.schema.step` and run it with :meth:`SqlStore.script`.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import threading
import time
import weakref
from typing import Any, Callable, Iterator, Sequence

from workflows.store.settings import Settings

NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
POOL_WAIT = 5.0  # seconds, as eventsourcing's POSTGRES_CONNECT_TIMEOUT for the event store


class Cursor:
    """The DB-API calls the stores use, with ``?`` placeholders on both databases."""

    def __init__(self, raw: Any, postgres: bool) -> None:
        self.raw = raw
        self.postgres = postgres
        # Where the transaction runs in pipeline mode (PostgreSQL), a way out of it for a
        # statement the mode refuses (``COPY``): see ``Pipeline``.
        self.unpipelined: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> "Cursor":
        self.raw.execute(self._sql(sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> "Cursor":
        if rows:
            self.raw.executemany(self._sql(sql), [tuple(r) for r in rows])
        return self

    def fetchone(self) -> tuple | None:
        row = self.raw.fetchone()
        return None if row is None else tuple(_plain(v) for v in row)

    def one(self) -> tuple:
        """The row a query that always answers one (``SELECT COUNT(*) ...``) answered."""
        row = self.fetchone()
        if row is None:
            raise LookupError("the query answered no row")
        return row

    def fetchall(self) -> list[tuple]:
        return [tuple(_plain(v) for v in row) for row in self.raw.fetchall()]

    @property
    def rowcount(self) -> int:
        return self.raw.rowcount


class Pipeline:
    """Pipeline mode for the rest of a PostgreSQL transaction, which a statement it refuses
    (``COPY``) can step out of: statements whose results nobody reads go to the server
    without waiting for each answer; a fetch or the commit waits for what is pending, and
    an error surfaces by the commit at latest (or on stepping out)."""

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Cursor:
        self._stack.enter_context(self.cursor.raw.connection.pipeline())
        self.cursor.unpipelined = self.paused
        return self.cursor

    def __exit__(self, *exc: Any) -> bool | None:
        self.cursor.unpipelined = contextlib.nullcontext
        return self._stack.__exit__(*exc)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Out of pipeline mode (after every pending statement's answer) and back in."""
        self._stack.close()
        try:
            yield
        finally:
            self._stack = contextlib.ExitStack()
            self._stack.enter_context(self.cursor.raw.connection.pipeline())


def _plain(value: Any) -> Any:
    # psycopg returns bytea as memoryview; sqlite3 as bytes.
    return bytes(value) if isinstance(value, memoryview) else value


# A pooled connection used this recently is not checked again when taken (a round trip).
IDLE_CHECK = 1.0  # seconds
_taken: "weakref.WeakKeyDictionary[Any, float]" = weakref.WeakKeyDictionary()


def check_if_idle(conn: Any) -> None:
    """psycopg_pool's ``check``, for connections unused for ``IDLE_CHECK`` seconds only.

    Checking every connection taken from the pool (``ConnectionPool.check_connection``,
    an empty query) costs a command two round trips of its ten or so.  A connection taken
    within the last second was working then; if the server dropped it since (a restart),
    the statement fails with an operational error, which eventsourcing's reads and inserts
    retry on another connection, as they would after a check that failed."""
    from psycopg_pool import ConnectionPool  # only installed where PostgreSQL is used

    now = time.monotonic()
    last = _taken.get(conn)
    _taken[conn] = now
    if last is None or now - last > IDLE_CHECK:
        ConnectionPool.check_connection(conn)


class SqlStore:
    def __init__(self, settings: Settings, name: str, *, pool_size: int = 4) -> None:
        if not NAME.match(name):
            raise ValueError(f"store name {name!r} must be lower-case letters, digits and _")
        self.name = name
        self.postgres = settings.is_postgres
        if self.postgres:
            from psycopg_pool import ConnectionPool

            self.lock_key = int.from_bytes(
                hashlib.sha256(f"cobuild-store:{name}".encode()).digest()[:8], "big", signed=True)
            # check: a connection the server dropped (a restart) is replaced when taken
            # from the pool, instead of failing the next statement long after the outage.
            # timeout: while the server is away, a caller waits this long for a connection,
            # then gets PoolTimeout (an outage: the API answers 503) instead of hanging.
            self.pool = ConnectionPool(settings.database_url, min_size=1, max_size=pool_size,
                                       kwargs={"autocommit": True}, open=True,
                                       name=f"cobuild-{name}", timeout=POOL_WAIT,
                                       check=ConnectionPool.check_connection)
        else:
            settings.ensure_home()
            self.path = settings.home / f"{name}.sqlite"
            self._local = threading.local()
            self._connections: list[sqlite3.Connection] = []
            self._guard = threading.Lock()

    @property
    def dialect(self) -> str:
        return "postgresql" if self.postgres else "sqlite"

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def write(self, *, synchronous_commit: bool = True) -> Iterator[Cursor]:
        """One transaction; the writers of this store take turns.

        ``synchronous_commit=False`` (PostgreSQL) commits without waiting for the WAL to
        reach the disk, for data that can be derived again (a projection rebuild): a server
        crash may lose the last such commits, never make the database inconsistent."""
        if self.postgres:
            with self.pool.connection() as conn, conn.transaction():
                cur = conn.cursor()
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
                if not synchronous_commit:
                    cur.execute("SET LOCAL synchronous_commit = off")
                yield Cursor(cur, True)
            return
        lite = self._sqlite()
        lite.execute("BEGIN IMMEDIATE")
        try:
            yield Cursor(lite.cursor(), False)
        except BaseException:
            lite.execute("ROLLBACK")
            raise
        lite.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[Cursor]:
        """One consistent snapshot for several selects."""
        if self.postgres:
            with self.pool.connection() as conn:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield Cursor(conn.cursor(), True)
                finally:
                    conn.execute("ROLLBACK")
            return
        lite = self._sqlite()
        lite.execute("BEGIN")
        try:
            yield Cursor(lite.cursor(), False)
        finally:
            lite.execute("ROLLBACK")

    def script(self, ddl: str) -> None:
        """Run ``;``-separated DDL in one transaction (for a schema step)."""
        with self.write() as cur:
            for statement in (s.strip() for s in ddl.split(";")):
                if statement:
                    cur.execute(statement)

    def close(self) -> None:
        if self.postgres:
            self.pool.close()
            return
        with self._guard:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
