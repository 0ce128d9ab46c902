"""The read side's own database: a thin layer over a DB-API connection.

The SQL the projections write is plain: ``?`` parameters, ``INSERT ... ON CONFLICT``, no
``INSERT OR REPLACE``, no ``rowid``, explicit ``GROUP BY`` and ``ORDER BY``.  Embedded, the
store is the SQLite file ``COBUILD_HOME/projections.sqlite`` (WAL, ``BEGIN IMMEDIATE`` to
serialise writers).  On PostgreSQL (``COBUILD_DATABASE_URL``) it is tables of the
deployment's database, through :class:`workflows.store.sqlstore.SqlStore` (``?`` translated,
writers serialised by an advisory lock, reads in one ``REPEATABLE READ`` snapshot):
:meth:`ProjectionDatabase.for_settings` picks the one the deployment runs on.

Tables of this module: ``projection_meta`` (which version of the fact tables serves reads)
and ``projection_tracking`` (the last log position applied to each version).  The fact
tables themselves are named with a version prefix (``v3_pairing``), so a rebuild can fill
a new version beside the one that serves.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from workflows.store import schema
from workflows.store.settings import Settings
from workflows.store.sqlstore import Pipeline, SqlStore

FILE_NAME = "projections.sqlite"

META_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_meta ("
    " name TEXT PRIMARY KEY, active_version BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_tracking ("
    " name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
)


SERVING_CACHE_KIB = 131072
REBUILD_CACHE_KIB = 32768


@schema.step("projections", 1, "the fact store's active version and tracked positions")
def _projections_schema(settings: Settings) -> None:
    store = SqlStore(settings, "projections", pool_size=1)
    try:
        store.script(";".join(META_DDL))
    finally:
        store.close()


class ProjectionDatabase:
    """One SQLite file; a connection per thread; writers serialised by the database."""

    @staticmethod
    def for_settings(settings: Settings) -> "ProjectionDatabase":
        """The fact store of the deployment ``settings`` describe."""
        if settings.is_postgres:
            return PostgresProjectionDatabase(settings)
        settings.ensure_home()
        return ProjectionDatabase(settings.home / FILE_NAME)

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def ensure_schema(self) -> None:
        """Create the bookkeeping tables (the runner does this; readers only read)."""
        with self.write() as conn:
            for statement in META_DDL:
                conn.execute(statement)

    def execute_ddl(self, conn: Any, statements: Iterable[str]) -> None:
        """Create or drop fact tables and indexes in the caller's write transaction."""
        for statement in statements:
            conn.execute(statement)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            # Reports and the catch-up of the serving version revisit the same index pages:
            # keep them in memory (a rebuild bounds its own, see ``rebuilding``).
            conn.execute(f"PRAGMA cache_size=-{SERVING_CACHE_KIB}")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement, so what it
        reads (the active version, the tracking position) cannot change under it."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def unsynced(self) -> Iterator[None]:
        """This thread's transactions commit without waiting for the disk (a rebuild's).

        A process killed meanwhile loses nothing committed (WAL); only an operating-system
        crash or power cut may lose or damage recent pages.  What is written here is a
        version that does not serve yet, and the whole file is derived from the event log:
        such damage costs a rebuild (or deleting the file and catching up), never a fact."""
        conn = self.connection()
        conn.execute("PRAGMA synchronous=OFF")
        try:
            yield
        finally:
            conn.execute("PRAGMA synchronous=NORMAL")

    @contextlib.contextmanager
    def rebuilding(self) -> Iterator[None]:
        """This thread's connection keeps a small page cache while a rebuild fills a new version.

        A rebuild touches every page of the new tables once, and sorts them once for their
        indexes (SQLite's sorter takes as much memory as the cache): a cache the size of the
        serving one would only grow the process with the data, up to the cache and again up
        to it for the sort, without making the rebuild faster (measured: bench/bench_memory.py,
        docs/BENCHMARKS.md)."""
        conn = self.connection()
        conn.execute(f"PRAGMA cache_size=-{REBUILD_CACHE_KIB}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA cache_size=-{SERVING_CACHE_KIB}")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query in it sees one consistent snapshot."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class PostgresProjectionDatabase(ProjectionDatabase):
    """The fact store as tables of the deployment's PostgreSQL database.

    The fact tables' DDL is written for SQLite (``position INTEGER PRIMARY KEY`` is SQLite's
    row id, which it must stay there); here integers are ``BIGINT`` and text compares byte by
    byte (``COLLATE "C"``), as in SQLite: a database created with a linguistic collation
    (en_US) ignores ``:`` and ``-``, which would break region ranges (``region + ":"``) and
    keyset cursors."""

    def __init__(self, settings: Settings, pool_size: int = 8) -> None:
        self.store = SqlStore(settings, "projections", pool_size=pool_size)
        self._local = threading.local()
        # Readers hold this shared and dropping a version's tables takes it exclusively:
        # PostgreSQL's catalog is not part of a reader's snapshot, so without it a reader
        # that saw the old version active could find its tables gone.
        self.drop_key = int.from_bytes(
            hashlib.sha256(b"cobuild-store:projections:drop").digest()[:8], "big", signed=True)

    def ensure_schema(self) -> None:
        """Nothing to do: ``cobuild migrate`` created the bookkeeping tables (step
        ``projections`` v1), and processes do not create tables on start."""

    _INTEGER = re.compile(r"\bINTEGER\b")
    _TEXT = re.compile(r"\bTEXT\b")

    def execute_ddl(self, conn: Any, statements: Iterable[str]) -> None:
        for statement in statements:
            if statement.startswith("CREATE TABLE"):
                statement = self._TEXT.sub('TEXT COLLATE "C"', self._INTEGER.sub("BIGINT", statement))
            elif statement.startswith("DROP"):
                conn.execute("SELECT pg_advisory_xact_lock(?)", (self.drop_key,))
            conn.execute(statement)

    def connection(self) -> Any:
        raise TypeError("a PostgreSQL fact store hands out connections only in read() and write()")

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        with self.store.write(synchronous_commit=not getattr(self._local, "unsynced", False)) as cur:
            # Pipeline mode: most of a batch's inserts and updates are statements whose
            # results nobody reads (``facts.insert_rows`` steps out of it for a COPY).
            with Pipeline(cur):
                yield cur

    @contextlib.contextmanager
    def unsynced(self) -> Iterator[None]:
        """This thread's write transactions commit without waiting for the WAL flush
        (``synchronous_commit = off``): a server crash may lose the last of them, never
        corrupt anything, and a rebuild's version does not serve until its switch, which
        is committed normally."""
        self._local.unsynced = True
        try:
            yield
        finally:
            self._local.unsynced = False

    @contextlib.contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Nothing to bound: the pages a rebuild touches are cached by the server
        (``shared_buffers``), not by this process."""
        yield

    @contextlib.contextmanager
    def read(self) -> Iterator[Any]:
        with self.store.read() as cur:
            cur.execute("SELECT pg_advisory_xact_lock_shared(?)", (self.drop_key,))
            yield cur

    def close(self) -> None:
        self.store.close()


def table_columns(conn: Any, table: str) -> set[str]:
    """The columns of ``table`` (none if it does not exist), without an error that would
    abort a PostgreSQL transaction."""
    if isinstance(conn, sqlite3.Connection):
        return {r[0] for r in conn.execute("SELECT name FROM pragma_table_info(?)", (table,))}
    return {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ?", (table,)).fetchall()}


def table_indexes(conn: Any, table: str) -> set[str]:
    """The names of ``table``'s indexes (none if it does not exist), without an error."""
    if isinstance(conn, sqlite3.Connection):
        return {r[0] for r in conn.execute("SELECT name FROM pragma_index_list(?)", (table,))}
    return {r[0] for r in conn.execute(
        "SELECT indexname FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = ?", (table,)).fetchall()}


def active_version(conn: sqlite3.Connection, name: str) -> int | None:
    try:
        row = conn.execute("SELECT active_version FROM projection_meta WHERE name = ?",
                           (name,)).fetchone()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):  # nothing was ever built here
            return None
        raise
    return row[0] if row else None


def set_active_version(conn: sqlite3.Connection, name: str, version: int) -> None:
    conn.execute(
        "INSERT INTO projection_meta (name, active_version) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET active_version = excluded.active_version",
        (name, version))


def tracked_position(conn: sqlite3.Connection, tracking_name: str) -> int | None:
    row = conn.execute("SELECT position FROM projection_tracking WHERE name = ?",
                       (tracking_name,)).fetchone()
    return row[0] if row else None


def set_tracked_position(conn: sqlite3.Connection, tracking_name: str, position: int) -> None:
    conn.execute(
        "INSERT INTO projection_tracking (name, position) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        (tracking_name, position))


def forget_tracking(conn: sqlite3.Connection, tracking_name: str) -> None:
    conn.execute("DELETE FROM projection_tracking WHERE name = ?", (tracking_name,))
