"""The read side's own database: a thin layer over a DB-API connection.

The SQL the projections write is plain: ``?`` parameters, ``INSERT ... ON CONFLICT``, no
``INSERT OR REPLACE``, no ``rowid``.  The only SQLite-specific parts are in this module
(the file, WAL, and ``BEGIN IMMEDIATE`` to serialise writers); a PostgreSQL store needs a
connection that maps ``?`` to ``%s`` and takes a row lock on ``projection_meta`` instead.

Tables of this module: ``projection_meta`` (which version of the fact tables serves reads)
and ``projection_tracking`` (the last log position applied to each version).  The fact
tables themselves are named with a version prefix (``v3_pairing``), so a rebuild can fill
a new version beside the one that serves.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

META_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_meta ("
    " name TEXT PRIMARY KEY, active_version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_tracking ("
    " name TEXT PRIMARY KEY, position INTEGER NOT NULL)",
)


SERVING_CACHE_KIB = 131072
REBUILD_CACHE_KIB = 32768


class ProjectionDatabase:
    """One SQLite file; a connection per thread; writers serialised by the database."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    def ensure_schema(self) -> None:
        """Create the bookkeeping tables (the runner does this; readers only read)."""
        with self.write() as conn:
            for statement in META_DDL:
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
