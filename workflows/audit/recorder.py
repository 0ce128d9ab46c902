"""Verifiable event history: a Merkle log over the application's notification sequence.

Every stored event gets a *leaf*: a small canonical binary header, written **in the same
database transaction** as the event by :class:`AuditedSQLiteApplicationRecorder`.  The
leaves form an RFC 9162 tree (``workflows.audit.merkle``) whose perfect nodes are stored
next to them, so roots and proofs need only O(log n) point reads.

Leaf header v1 (all integers big-endian)::

    b"cobuild-audit-leaf/v1\\0"   format tag and domain separation; bump on any change
    notification_id      u64      position in the application sequence (SQLite rowid)
    originator_id        0x01 || 16-byte UUID   or   0x02 || u16 length || UTF-8
    originator_version   u64
    topic                u16 length || UTF-8
    recorded_at          u64      microseconds since the epoch, taken in the transaction
    state_sha256         32 B     SHA-256 of the state bytes exactly as stored

The stored bytes are hashed, not a re-serialisation, so the leaf stays checkable without
eventsourcing, without cipher keys, and identically across databases.

Storage (three append-only tables, plus ``audit_checkpoint`` filled by the signer):

* ``audit_leaf``: dense ``leaf_index`` 0, 1, 2, ... -> notification id and the header.
  Leaf indices are dense even where notification ids have gaps (PostgreSQL burns sequence
  values on rollback).
* ``audit_node``: perfect nodes only, keyed by their in-order number
  (``merkle.node_key``), about two rows per event.

The SQL lives in :class:`AuditSQL` and the tree logic in :class:`AuditAppender` and
:class:`AuditLog`, which only need a DB-API style cursor, so the PostgreSQL recorder
(``workflows.audit.recorder_postgres``) reuses them with :func:`postgres_sql`'s statements
(``%s`` placeholders, ``bytea``/``bigint``), hooked at ``_fetch_ids_after_insert_events``
instead of ``_insert_events``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteProcessRecorder

from workflows.audit import merkle
from workflows.audit.heads import HeadIndex
from workflows.audit.verifier import LEAF_TAG, Leaf, decode_leaf, encode_originator_id
from workflows.store import idempotency

__all__ = [
    "LEAF_TAG",
    "AuditLog",
    "AuditSQL",
    "AuditStorageError",
    "AuditedSQLiteApplicationRecorder",
    "AuditedSQLiteProcessRecorder",
    "Leaf",
    "LeafRow",
    "decode_leaf",
    "encode_leaf",
    "encode_originator_id",
]

_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")


class AuditStorageError(Exception):
    """The stored tree is not in a state that can be extended or read consistently."""


# ---------------------------------------------------------------- leaf codec


def leaf_prefix(notification_id: int, oid_bytes: bytes, version: int, topic: str) -> bytes:
    """Everything in the header before ``recorded_at``: what an event row determines."""
    t = topic.encode("utf-8")
    return LEAF_TAG + _U64.pack(notification_id) + oid_bytes + _U64.pack(version) + _U16.pack(len(t)) + t


def encode_leaf(
    notification_id: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
    recorded_at_us: int,
) -> bytes:
    return (
        leaf_prefix(notification_id, encode_originator_id(originator_id), originator_version, topic)
        + _U64.pack(recorded_at_us)
        + hashlib.sha256(state).digest()
    )


def _lookup_keys(originator_id: UUID | str) -> tuple[list[str], str]:
    """Stored forms an id given by a user may have, and its canonical (leaf) spelling.

    A caller cannot know whether the store uses UUID or text ids, so a string that parses
    as a UUID is looked up both ways; the decoded leaf then decides which rows match.
    """
    if isinstance(originator_id, UUID):
        return [originator_id.hex], str(originator_id)
    try:
        as_uuid = UUID(originator_id)
    except ValueError:
        return [originator_id], originator_id
    return [originator_id, as_uuid.hex], str(as_uuid)


# ---------------------------------------------------------------- SQL


@dataclass(frozen=True)
class AuditSQL:
    """Statements for one database dialect; the defaults are SQLite's."""

    create: tuple[str, ...] = (
        "CREATE TABLE IF NOT EXISTS audit_leaf ("
        "leaf_index INTEGER PRIMARY KEY, "
        "notification_id INTEGER NOT NULL UNIQUE, "
        "leaf_input BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS audit_node (id INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS audit_checkpoint ("
        "tree_size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, created_at REAL NOT NULL)",
        # Accident guards only: whoever holds the file can drop them, which is why the
        # real protection is checkpoints held outside the database.
        *(
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            for table in ("audit_leaf", "audit_node", "audit_checkpoint")
            for op in ("UPDATE", "DELETE")
        ),
    )
    select_size: str = "SELECT MAX(leaf_index) FROM audit_leaf"
    insert_leaf: str = "INSERT INTO audit_leaf VALUES (?, ?, ?)"
    insert_node: str = "INSERT INTO audit_node VALUES (?, ?)"
    select_nodes: str = "SELECT id, hash FROM audit_node WHERE id IN ({marks})"
    select_leaf: str = (
        "SELECT leaf_index, notification_id, leaf_input FROM audit_leaf WHERE leaf_index = ?"
    )
    select_leaf_at: str = (
        "SELECT leaf_index, notification_id, leaf_input FROM audit_leaf WHERE notification_id = ?"
    )
    # Found through the events' primary key rather than an index of our own: one index
    # less to write per commit.  A leaf whose event row was deleted is then not
    # exported, which the bundle's completeness headers reveal.
    select_leaves_for: str = (
        "SELECT l.leaf_index, l.notification_id, l.leaf_input "
        "FROM stored_events e JOIN audit_leaf l ON l.notification_id = e.rowid "
        "WHERE e.originator_id IN (?, ?) AND l.leaf_index < ? ORDER BY l.leaf_index"
    )
    select_headers: str = (
        "SELECT leaf_input FROM audit_leaf WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index"
    )
    select_state: str = "SELECT state FROM stored_events WHERE rowid = ?"
    # The aggregate index (workflows.audit.heads): each aggregate's latest event up to a
    # notification id (a scan of the events' primary key index) and its committed leaf.
    select_heads: str = (
        "SELECT e.originator_id, e.originator_version, e.rowid, l.leaf_input "
        "FROM stored_events e JOIN audit_leaf l ON l.notification_id = e.rowid WHERE e.rowid IN "
        "(SELECT MAX(rowid) FROM stored_events WHERE rowid <= ? GROUP BY originator_id)"
    )
    insert_checkpoint: str = "INSERT OR IGNORE INTO audit_checkpoint VALUES (?, ?, ?, ?)"
    select_checkpoints: str = "SELECT tree_size, root, note FROM audit_checkpoint ORDER BY tree_size"
    # Whole-store verification: every event row as (notification id, originator id as
    # 32 lowercase hex digits or text, version, topic, state), in notification order.
    scan_events: str = "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"
    scan_leaves: str = "SELECT leaf_index, notification_id, leaf_input FROM audit_leaf ORDER BY leaf_index"
    scan_nodes: str = "SELECT id, hash FROM audit_node ORDER BY id"
    events_table: str = "stored_events"
    placeholder: str = "?"
    # PostgreSQL keeps originator ids in a uuid column, SQLite as text in either spelling.
    uuid_ids: bool = False
    # The tree size and its frontier's nodes in one read (rows of size, level, hash), where
    # the dialect can say it: one round trip less per commit when another process appended
    # since (PostgreSQL, with several server processes writing).
    select_frontier: str | None = None
    # Whether an append may write its leaves at the cached tree size unread and fall back
    # on a key collision (``AuditAppender.append``): not on PostgreSQL, where a failed
    # statement aborts the transaction (there the size is read with the insert instead).
    optimistic: bool = True

    def marks(self, n: int) -> str:
        return ",".join([self.placeholder] * n)


SQLITE_SQL = AuditSQL()


# eventsourcing names the table after the application: ``Engine`` -> ``engine_events``.
# The tests check the engine's recorder uses this name, so the CLI can find it without one.
POSTGRES_EVENTS_TABLE = "engine_events"


def postgres_sql(events_table: str = POSTGRES_EVENTS_TABLE) -> AuditSQL:
    """PostgreSQL statements for the application whose events are in ``events_table``.

    The audit tables have fixed names: one audited log per database.
    """
    t = events_table
    return AuditSQL(
        create=(
            "CREATE TABLE IF NOT EXISTS audit_leaf ("
            "leaf_index bigint PRIMARY KEY, "
            "notification_id bigint NOT NULL UNIQUE, "
            "leaf_input bytea NOT NULL)",
            "CREATE TABLE IF NOT EXISTS audit_node (id bigint PRIMARY KEY, hash bytea NOT NULL)",
            "CREATE TABLE IF NOT EXISTS audit_checkpoint ("
            "tree_size bigint PRIMARY KEY, root bytea NOT NULL, note text NOT NULL, "
            "created_at double precision NOT NULL)",
            # Accident guards, as on SQLite: the database owner can drop them, so the real
            # protection stays the checkpoints held outside the database.
            "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END$$",
            *(
                f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
                for table in ("audit_leaf", "audit_node", "audit_checkpoint")
            ),
        ),
        select_size="SELECT MAX(leaf_index) FROM audit_leaf",
        # Frontier.node_ids and merkle.node_key, in SQL: one perfect node per set bit of the size.
        select_frontier=(
            "SELECT s.n, l.lvl, a.hash "
            "FROM (SELECT COALESCE(MAX(leaf_index) + 1, 0) AS n FROM audit_leaf) s "
            "LEFT JOIN LATERAL generate_series(0, 62) AS l(lvl) ON (s.n >> l.lvl) & 1 = 1 "
            "LEFT JOIN audit_node a ON a.id = "
            "(((s.n >> l.lvl) - 1) << (l.lvl + 1)) + (1::bigint << l.lvl) - 1 "
            "ORDER BY l.lvl"
        ),
        insert_leaf="INSERT INTO audit_leaf VALUES (%s, %s, %s)",
        insert_node="INSERT INTO audit_node VALUES (%s, %s)",
        select_nodes="SELECT id, hash FROM audit_node WHERE id IN ({marks})",
        select_leaf="SELECT leaf_index, notification_id, leaf_input FROM audit_leaf WHERE leaf_index = %s",
        select_leaf_at="SELECT leaf_index, notification_id, leaf_input FROM audit_leaf WHERE notification_id = %s",
        select_leaves_for=(
            "SELECT l.leaf_index, l.notification_id, l.leaf_input "
            f"FROM {t} e JOIN audit_leaf l ON l.notification_id = e.notification_id "
            "WHERE e.originator_id = %s AND l.leaf_index < %s ORDER BY l.leaf_index"
        ),
        select_headers=(
            "SELECT leaf_input FROM audit_leaf WHERE leaf_index >= %s AND leaf_index < %s ORDER BY leaf_index"
        ),
        select_state=f"SELECT state FROM {t} WHERE notification_id = %s",
        select_heads=(
            "SELECT e.originator_id, e.originator_version, e.notification_id, l.leaf_input "
            f"FROM {t} e JOIN audit_leaf l ON l.notification_id = e.notification_id WHERE e.notification_id IN "
            f"(SELECT MAX(notification_id) FROM {t} WHERE notification_id <= %s GROUP BY originator_id)"
        ),
        insert_checkpoint="INSERT INTO audit_checkpoint VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        select_checkpoints="SELECT tree_size, root, note FROM audit_checkpoint ORDER BY tree_size",
        scan_events=(
            "SELECT notification_id, replace(originator_id::text, '-', ''), originator_version, topic, state "
            f"FROM {t} ORDER BY notification_id"
        ),
        scan_leaves="SELECT leaf_index, notification_id, leaf_input FROM audit_leaf ORDER BY leaf_index",
        scan_nodes="SELECT id, hash FROM audit_node ORDER BY id",
        events_table=t,
        placeholder="%s",
        uuid_ids=True,
        optimistic=False,
    )


# ---------------------------------------------------------------- append (write path)


def _read_size(c: Any, sql: AuditSQL) -> int:
    c.execute(sql.select_size)
    return read_size(c)


def read_size(c: Any) -> int:
    """The tree size from the answer of ``AuditSQL.select_size`` executed on ``c``."""
    row = c.fetchone()
    return 0 if row is None or row[0] is None else row[0] + 1


def _missing_node(lvl: int, idx: int) -> AuditStorageError:
    return AuditStorageError(f"stored tree node (level {lvl}, index {idx}) covering leaves "
                             f"[{idx << lvl},{(idx + 1) << lvl}) is missing")


def frontier_from(rows: Sequence[tuple[int, int | None, bytes | None]]) -> merkle.Frontier:
    """The frontier from the answer of ``AuditSQL.select_frontier``."""
    size = rows[0][0]
    nodes = {}
    for _, lvl, h in rows:
        if lvl is not None:
            if h is None:
                raise _missing_node(lvl, (size >> lvl) - 1)
            nodes[lvl] = bytes(h)
    return merkle.Frontier(size, nodes)


def _read_nodes(c: Any, sql: AuditSQL, coords: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    if not coords:
        return {}
    keys = {merkle.node_key(lvl, idx): (lvl, idx) for lvl, idx in coords}
    c.execute(sql.select_nodes.format(marks=sql.marks(len(keys))), list(keys))
    found = {keys[row[0]]: bytes(row[1]) for row in c.fetchall()}
    missing = [k for k in coords if k not in found]
    if missing:
        raise _missing_node(*missing[0])
    return found


class AuditAppender:
    """Appends leaves and perfect nodes through the caller's cursor and transaction.

    The frontier (at most 64 hashes) is cached so an append needs no reads beyond the
    tree size.  The cache is trusted only when the size read *inside* the write
    transaction equals the cached size, and it is only ever replaced by a frontier whose
    transaction committed, so a rollback or another process's write cannot poison it.
    """

    def __init__(self, sql: AuditSQL = SQLITE_SQL) -> None:
        self.sql = sql
        self._lock = threading.Lock()
        self._committed: merkle.Frontier | None = None
        self._local = threading.local()

    def append(self, c: Any, notification_ids: Sequence[int], stored_events: Sequence[StoredEvent],
               frontier: merkle.Frontier | None = None) -> None:
        """``frontier``: the tree's frontier, if the caller read it in this transaction already.

        Without it, and with a frontier cached from a commit, the leaves are written at the
        cached size unread (SQLite, where a failed statement leaves its transaction usable):
        leaves are dense and the tree only grows, so the first of them collides with the
        primary key exactly when another writer appended since, and then the size is read
        and the append done again.  One statement less per commit (measured: a sixth of
        the audited recorder's CPU overhead per save)."""
        if len(notification_ids) != len(stored_events):
            raise AuditStorageError("recorder returned a notification id count unlike the event count")
        with self._lock:
            cached = self._committed
        if frontier is None and cached is not None and self.sql.optimistic:
            frontier = cached.copy()
            leaves, node_rows = self._grow(frontier, notification_ids, stored_events)
            try:
                c.executemany(self.sql.insert_leaf, leaves)
            except sqlite3.IntegrityError:
                size = _read_size(c, self.sql)
                if size == cached.size:  # not another writer's leaves: a real error
                    raise
                frontier = self._frontier_at(c, size, cached)
            else:
                self._write_nodes(c, node_rows, frontier)
                return
        elif frontier is None:
            if self.sql.select_frontier:
                c.execute(self.sql.select_frontier)
                frontier = frontier_from(c.fetchall())
            else:
                frontier = self._frontier_at(c, _read_size(c, self.sql), cached)
        leaves, node_rows = self._grow(frontier, notification_ids, stored_events)
        c.executemany(self.sql.insert_leaf, leaves)
        self._write_nodes(c, node_rows, frontier)

    def _frontier_at(self, c: Any, size: int, cached: merkle.Frontier | None) -> merkle.Frontier:
        """The frontier at ``size``: the cached one if it is that size, else read."""
        if cached is not None and cached.size == size:
            return cached.copy()
        nodes = _read_nodes(c, self.sql, merkle.Frontier.node_ids(size))
        return merkle.Frontier(size, {lvl: h for (lvl, _), h in nodes.items()})

    @staticmethod
    def _grow(frontier: merkle.Frontier, notification_ids: Sequence[int],
              stored_events: Sequence[StoredEvent]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The leaf rows and node rows of the events, appended to ``frontier``."""
        now_us = time.time_ns() // 1000
        leaves = []
        node_rows: list[tuple[Any, ...]] = []
        leaf_hash = merkle.leaf_hash
        node_key = merkle.node_key
        for nid, se in zip(notification_ids, stored_events):
            leaf_input = encode_leaf(nid, se.originator_id, se.originator_version, se.topic, se.state, now_us)
            leaves.append((frontier.size, nid, leaf_input))
            node_rows.extend((node_key(lvl, idx), h) for lvl, idx, h in frontier.append(leaf_hash(leaf_input)))
        return leaves, node_rows

    def _write_nodes(self, c: Any, node_rows: list[tuple[Any, ...]], frontier: merkle.Frontier) -> None:
        c.executemany(self.sql.insert_node, node_rows)
        self._local.pending = frontier

    @contextmanager
    def saving(self) -> Iterator[None]:
        """Around one write transaction: what it appended becomes the cached frontier only
        if it committed."""
        try:
            yield
        except BaseException:
            self.rolled_back()
            raise
        self.committed()

    def committed(self) -> None:
        pending = self._local.__dict__.pop("pending", None)
        if pending is not None:
            with self._lock:
                if self._committed is None or pending.size >= self._committed.size:
                    self._committed = pending

    def rolled_back(self) -> None:
        self._local.__dict__.pop("pending", None)


class _AuditedRecorderMixin(SQLiteApplicationRecorder):
    """Hooks the appender into eventsourcing 9.5's SQLite write path (private API, pinned);
    mixed into the application recorder and the process recorder, which extends it."""

    audit_sql: AuditSQL = SQLITE_SQL

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.audit_appender = AuditAppender(self.audit_sql)
        super().__init__(*args, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return (super().construct_create_table_statements()
                + list(self.audit_sql.create) + [idempotency.SQLITE.create])

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.audit_appender.saving():
            return super().insert_events(stored_events, **kwargs)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if stored_events:
            if ids is None:
                raise AuditStorageError("the event recorder returned no notification ids to audit")
            self.audit_appender.append(c, ids, stored_events)
        # An Idempotency-Key's receipt commits with the events or not at all (DESIGN §13).
        idempotency.write(c, idempotency.SQLITE, kwargs.get("receipt"), ids)
        return ids



@runtime_checkable
class AuditedRecorder(Protocol):
    """An event recorder that writes the verifiable log beside the events (either database)."""

    audit_sql: AuditSQL

    @property
    def audit(self) -> AuditLog: ...

    def store_checkpoint(self, size: int, root: bytes, note: str, recorded_at: float) -> None: ...


class AuditedSQLiteApplicationRecorder(_AuditedRecorderMixin, SQLiteApplicationRecorder):
    """The application recorder of the embedded store (``workflows.audit.wiring``)."""

    @property
    def audit(self) -> AuditLog:
        """The log this recorder writes, read through its own datastore."""
        return AuditLog(lambda: self.datastore.transaction(commit=False), self.audit_sql)

    def store_checkpoint(self, size: int, root: bytes, note: str, recorded_at: float) -> None:
        """Keep a signed head beside the leaves."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self.audit_sql.insert_checkpoint, (size, root, note, recorded_at))


class AuditedSQLiteProcessRecorder(_AuditedRecorderMixin, SQLiteProcessRecorder):
    """Same hook for process applications (``PROCESS_RECORDER_TOPIC``)."""


# ---------------------------------------------------------------- read path


@dataclass(frozen=True)
class LeafRow:
    leaf_index: int
    notification_id: int
    leaf_input: bytes

    @property
    def leaf(self) -> Leaf:
        return decode_leaf(self.leaf_input)


TransactionFactory = Callable[[], AbstractContextManager[Any]]


def connect_sqlite(path: str | Path, *, timeout: float = 10.0) -> sqlite3.Connection:
    """Open an existing store file (never creates one) in autocommit mode."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no event store at {p}")
    conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=timeout)
    return conn


def sqlite_snapshot(conn: sqlite3.Connection) -> TransactionFactory:
    """Reads inside BEGIN ... ROLLBACK see one consistent snapshot of the WAL database."""

    @contextmanager
    def txn() -> Iterator[sqlite3.Cursor]:
        c = conn.cursor()
        c.execute("BEGIN")
        try:
            yield c
        finally:
            c.execute("ROLLBACK")
            c.close()

    return txn


def read_head_index(c: Any, sql: AuditSQL, size: int) -> HeadIndex:
    """The aggregate index at ``size``, read through an open cursor (one snapshot)."""
    if size == 0:
        return HeadIndex.build(0, [])
    c.execute(sql.select_leaf, (size - 1,))
    row = c.fetchone()
    if row is None:
        raise AuditStorageError(f"leaf {size - 1} is missing")
    c.execute(sql.select_heads, (row[1],))
    return HeadIndex.build(size, c.fetchall())


class AuditLog:
    """Read access to the stored tree: sizes, roots, proofs, leaves.

    Each public method reads inside one transaction, so a proof is always computed from
    a single consistent state of the tree.
    """

    def __init__(self, transaction: TransactionFactory, sql: AuditSQL = SQLITE_SQL) -> None:
        self._transaction = transaction
        self.sql = sql

    @classmethod
    def from_connection(cls, conn: sqlite3.Connection) -> AuditLog:
        return cls(sqlite_snapshot(conn))

    # -- helpers taking an open cursor

    def _getter(self, c: Any, compute: Callable[[merkle.NodeGetter], Any]) -> Any:
        """Run ``compute`` twice: once to learn which nodes it needs, then with them
        fetched in a single query (one round trip instead of O(log n))."""
        wanted: list[tuple[int, int]] = []

        def record(level: int, index: int) -> bytes:
            wanted.append((level, index))
            return b"\x00" * merkle.HASH_LEN

        compute(record)
        nodes = _read_nodes(c, self.sql, list(dict.fromkeys(wanted)))
        return compute(lambda level, index: nodes[(level, index)])

    def _size_checked(self, c: Any, size: int | None) -> int:
        current = _read_size(c, self.sql)
        if size is None:
            return current
        if not 0 <= size <= current:
            raise ValueError(f"tree size {size} is not between 0 and the current size {current}")
        return size

    # -- public reads

    def tree_size(self) -> int:
        with self._transaction() as c:
            return _read_size(c, self.sql)

    def head(self, size: int | None = None) -> tuple[int, bytes]:
        with self._transaction() as c:
            size = self._size_checked(c, size)
            return size, self._getter(c, lambda get: merkle.tree_root(get, size))

    def root(self, size: int | None = None) -> bytes:
        return self.head(size)[1]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        with self._transaction() as c:
            size = self._size_checked(c, size)
            return self._getter(c, lambda get: merkle.inclusion_proof(get, index, size))

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        with self._transaction() as c:
            size2 = self._size_checked(c, size2)
            return self._getter(c, lambda get: merkle.consistency_proof(get, size1, size2))

    def leaf(self, index: int) -> LeafRow | None:
        with self._transaction() as c:
            c.execute(self.sql.select_leaf, (index,))
            row = c.fetchone()
            return None if row is None else LeafRow(row[0], row[1], bytes(row[2]))

    def leaf_at(self, notification_id: int) -> LeafRow | None:
        """The leaf of the event at a log position (the id the API and history show)."""
        with self._transaction() as c:
            c.execute(self.sql.select_leaf_at, (notification_id,))
            row = c.fetchone()
            return None if row is None else LeafRow(row[0], row[1], bytes(row[2]))

    def leaves_for(self, originator_id: UUID | str, size: int | None = None) -> list[LeafRow]:
        with self._transaction() as c:
            size = self._size_checked(c, size)
            return self._leaves_for(c, originator_id, size)

    def _leaves_for(self, c: Any, originator_id: UUID | str, size: int) -> list[LeafRow]:
        keys, canonical = _lookup_keys(originator_id)
        if self.sql.uuid_ids:
            try:
                as_uuid = UUID(canonical)
            except ValueError:
                return []  # not a UUID, so no event of a uuid-keyed store has it
            c.execute(self.sql.select_leaves_for, (as_uuid, size))
        else:
            c.execute(self.sql.select_leaves_for, (keys[0], keys[-1], size))
        rows = [LeafRow(r[0], r[1], bytes(r[2])) for r in c.fetchall()]
        return [r for r in rows if r.leaf.originator_id == canonical]

    def headers(self, start: int = 0, stop: int | None = None, batch: int = 10_000) -> Iterator[bytes]:
        """Leaf headers [start, stop) in order, read in batches (headers-only export)."""
        if stop is None:
            stop = self.tree_size()
        pos = start
        while pos < stop:
            end = min(stop, pos + batch)
            with self._transaction() as c:
                c.execute(self.sql.select_headers, (pos, end))
                rows = c.fetchall()
            for r in rows:
                yield bytes(r[0])
            if len(rows) != end - pos:
                raise AuditStorageError(f"leaf indices in [{pos},{end}) are not dense")
            pos = end

    def evidence(self, originator_id: UUID | str, size: int) -> list[tuple[LeafRow, bytes | None, list[bytes]]]:
        """For one aggregate: each leaf, its stored state (None if the row is gone) and
        its inclusion proof at ``size``, all from one snapshot."""
        with self._transaction() as c:
            size = self._size_checked(c, size)
            rows = self._leaves_for(c, originator_id, size)
            out = []
            for row in rows:
                c.execute(self.sql.select_state, (row.notification_id,))
                state = c.fetchone()
                def proof_of(get: merkle.NodeGetter, index: int = row.leaf_index) -> list[bytes]:
                    return merkle.inclusion_proof(get, index, size)

                proof = self._getter(c, proof_of)
                out.append((row, None if state is None else bytes(state[0]), proof))
            return out

    def head_index(self, size: int | None = None) -> HeadIndex:
        """The aggregate index at tree size ``size`` (default: the current size)."""
        with self._transaction() as c:
            size = self._size_checked(c, size)
            return read_head_index(c, self.sql, size)

    def checkpoints(self) -> list[tuple[int, bytes, str]]:
        with self._transaction() as c:
            c.execute(self.sql.select_checkpoints)
            return [(r[0], bytes(r[1]), r[2]) for r in c.fetchall()]
