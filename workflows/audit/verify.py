"""Whole-store verification of an event store (SQLite or PostgreSQL) against its Merkle log.

One sequential pass re-derives every leaf from the event row it names and rebuilds the
tree; a second pass compares the stored perfect nodes with the rebuilt ones; then every
checkpoint (the database's own and, more importantly, ones held outside it) is checked
against the rebuilt tree.  Detected, each named by log position, notification id,
aggregate and version:

* state bytes, topic, aggregate or version of a row changed (leaf re-derivation);
* a row deleted (leaf without row) or inserted behind the recorder (row without leaf);
* rows swapped or renumbered (the leaf names a different row now);
* non-dense leaf indices, notification ids not increasing with leaf index;
* stored tree nodes that differ from, or are missing from, or cannot be derived from
  the leaves present (a truncated tail that left nodes behind);
* a tree that does not match a checkpoint: rewritten history (with the window between
  the last matching and the first failing checkpoint) or a truncated tail.

A store rewritten consistently (events, leaves, nodes, and its checkpoint table
emptied) passes the internal checks; only a checkpoint kept outside the database
catches it.  The result therefore says how many external checkpoints were used.

The checks are the same on both databases; only the statements that read the rows
(``AuditSQL.scan_*``) differ, and PostgreSQL reads them through server-side cursors in
one repeatable-read snapshot, as SQLite reads them inside one ``BEGIN``.  A large clean
SQLite store is checked by two processes, each in its own read transaction; their
results are used only if no commit happened between the two snapshots being taken
(``PRAGMA data_version`` of a third connection), so they saw the same state.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import operator
import os
import re
import sqlite3
import struct
import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.audit import merkle
from workflows.audit.recorder import LEAF_TAG, SQLITE_SQL, AuditSQL, connect_sqlite, leaf_prefix, read_head_index
from workflows.audit.verifier import (
    EXIT_OK,
    EXIT_TAMPERED,
    CannotCheck,
    Checkpoint,
    NoteError,
    VerifierKey,
    decode_leaf,
    open_checkpoint,
)

__all__ = ["CannotCheck", "Problem", "VerifyResult", "verify_store"]

_TAG_LEN = len(LEAF_TAG)
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")
_BATCH = 5000
_HEAD_UUID = struct.Struct(">QB16sQ")
_LOWER_HEX = re.compile("[0-9a-f]*")
_LT = operator.lt


@dataclass(frozen=True)
class Problem:
    position: int
    message: str
    notification_id: int | None = None
    originator_id: str | None = None
    originator_version: int | None = None

    def __str__(self) -> str:
        where = f"leaf {self.position}"
        if self.notification_id is not None:
            where += f" / notification {self.notification_id}"
        if self.originator_id is not None:
            where += f" ({self.originator_id} v{self.originator_version})"
        return f"{where}: {self.message}"


@dataclass
class VerifyResult:
    leaves: int = 0
    events: int = 0
    nodes: int = 0
    checkpoints_checked: int = 0
    external_checkpoints: int = 0
    indexes_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.position) if self.problems else None

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_TAMPERED

    def summary(self) -> str:
        if self.ok:
            text = (f"OK: {self.leaves} leaves re-derived from {self.events} stored events, "
                    f"{self.nodes} tree nodes and {self.checkpoints_checked} checkpoint(s) verified")
            if self.indexes_checked:
                text += f", the aggregate index of {self.indexes_checked} external checkpoint(s) re-derived"
            if not self.external_checkpoints:
                text += ("; WARNING: no checkpoint from outside the database was given, so a consistent "
                         "rewrite of the whole store would not be detected")
            return text
        return f"TAMPERED: {self.first} ({len(self.problems)} problem(s) found)"


class _Problems:
    def __init__(self, limit: int) -> None:
        self.items: list[Problem] = []
        self.limit = limit

    def add(self, position: int, message: str, nid: int | None = None, oid: str | None = None,
            version: int | None = None) -> None:
        if len(self.items) < self.limit:
            self.items.append(Problem(position, message, nid, oid, version))


def _row_oid_bytes(row_oid: str, kind: int) -> bytes | None:
    if kind == 1:
        if len(row_oid) != 32 or row_oid != row_oid.lower():
            return None
        try:
            return b"\x01" + bytes.fromhex(row_oid)
        except ValueError:
            return None
    raw = row_oid.encode("utf-8")
    return b"\x02" + _U16.pack(len(raw)) + raw


def _display_oid(row_oid: str) -> str:
    """UUID ids are stored as 32 hex digits; show them as leaves decode them."""
    if len(row_oid) == 32:
        try:
            return str(uuid.UUID(hex=row_oid))
        except ValueError:
            pass
    return row_oid


def _diagnose(problems: _Problems, position: int, nid: int, leaf_input: bytes, row: tuple) -> None:
    """Explain why an event row no longer re-derives its leaf (slow path, only on mismatch)."""
    _, row_oid, row_version, row_topic, state = row
    try:
        leaf = decode_leaf(leaf_input)
    except ValueError as e:
        problems.add(position, str(e), nid)
        return
    oid, version = leaf.originator_id, leaf.originator_version
    expected_oid = _row_oid_bytes(row_oid, leaf_input[_TAG_LEN + 8])
    if expected_oid is None or leaf_prefix(nid, expected_oid, row_version, row_topic) != leaf_input[:-40]:
        if (_display_oid(row_oid), row_version) != (oid, version):
            problems.add(position, f"event row now says {_display_oid(row_oid)} v{row_version} {row_topic} "
                                   "(moved/reordered?)", nid, oid, version)
        else:
            problems.add(position, f"event row topic ALTERED: now {row_topic!r}, committed {leaf.topic!r}",
                         nid, oid, version)
        return
    actual = hashlib.sha256(state).hexdigest()
    problems.add(position, f"state bytes ALTERED (sha256 {actual[:16]}... != committed "
                           f"{leaf.state_sha256.hex()[:16]}...)", nid, oid, version)


def _leaf_identity(leaf_input: bytes) -> tuple[str | None, int | None]:
    try:
        leaf = decode_leaf(leaf_input)
    except ValueError:
        return None, None
    return leaf.originator_id, leaf.originator_version


Scan = Callable[[str], Any]  # runs a query, returns a cursor to fetchmany() from


def _rows(cursor: Any) -> Iterator[tuple]:
    while True:
        batch = cursor.fetchmany(_BATCH)
        if not batch:
            return
        yield from batch


def verify_store(
    db_path: str | Path,
    *,
    external_checkpoints: Sequence[tuple[str, Checkpoint]] = (),
    vkey: VerifierKey | None = None,
    max_problems: int = 1000,
    operator_checkpoints: Sequence[tuple[str, Checkpoint]] = (),
) -> VerifyResult:
    """Verify the whole store; raises CannotCheck if it cannot be read as an audited store.

    ``external_checkpoints`` are (label, checkpoint) pairs already opened against the
    pinned key, kept by someone other than the operator; the aggregate index each commits
    to is re-derived and compared too.  ``operator_checkpoints`` (the signer's state file)
    and the database's own checkpoints are checked like them but do not count as external;
    the database's signatures only if ``vkey`` is given.  ``db_path`` is a SQLite file or a
    ``postgresql://`` URL.
    """
    if isinstance(db_path, str) and db_path.startswith(("postgresql://", "postgres://")):
        return _verify_postgres(db_path, external_checkpoints, vkey, max_problems, operator_checkpoints)
    try:
        conn = connect_sqlite(db_path)
    except (FileNotFoundError, sqlite3.Error) as e:
        raise CannotCheck(str(e)) from None
    probe = None
    try:
        # A second connection that stays outside any transaction: its data_version
        # changes when anyone commits, which the two-process scan needs to know.
        probe = connect_sqlite(db_path)
        version_before = probe.execute("PRAGMA data_version").fetchone()[0]
        conn.execute("BEGIN")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = {"stored_events", "audit_leaf", "audit_node"} - tables
        if missing:
            raise CannotCheck(f"{db_path} is not an audited event store (missing {', '.join(sorted(missing))})")
        return _verify(lambda q: conn.cursor().execute(q), SQLITE_SQL, external_checkpoints, vkey, max_problems,
                       "audit_checkpoint" in tables, lambda: _split_scan(db_path, conn, probe, version_before),
                       conn.cursor, operator_checkpoints)
    except sqlite3.DatabaseError as e:
        raise CannotCheck(f"cannot read {db_path}: {e}") from None
    finally:
        if probe is not None:
            probe.close()
        conn.close()


def _verify_postgres(url: str, external: Sequence[tuple[str, Checkpoint]], vkey: VerifierKey | None,
                     max_problems: int, operator: Sequence[tuple[str, Checkpoint]]) -> VerifyResult:
    import psycopg

    from workflows.audit.recorder_postgres import postgres_sql

    sql = postgres_sql()
    names = itertools.count()

    try:
        with psycopg.connect(url) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            present = {t for t in (sql.events_table, "audit_leaf", "audit_node", "audit_checkpoint")
                       if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (t,)).fetchone() == (True,)}
            missing = {sql.events_table, "audit_leaf", "audit_node"} - present
            if missing:
                raise CannotCheck(f"the database is not an audited event store (missing {', '.join(sorted(missing))})")
            # Server-side cursors: the scans stream instead of loading the store into memory.
            return _verify(lambda q: conn.cursor(name=f"audit_scan_{next(names)}").execute(q), sql, external,
                           vkey, max_problems, "audit_checkpoint" in present, None, conn.cursor, operator)
    except psycopg.Error as e:
        raise CannotCheck(f"cannot read the PostgreSQL store: {e}") from None


class _Tree:
    """The perfect nodes of the tree over the leaves seen so far, built a batch at a time.

    ``levels[k]`` holds the level-k perfect node hashes concatenated in index order;
    ``carry[k]`` is a left node still waiting for its right sibling.  Hashing a whole
    batch per level in one comprehension costs far less than a frontier update per leaf.
    """

    __slots__ = ("levels", "carry")

    def __init__(self) -> None:
        self.levels: list[bytearray] = [bytearray()]
        self.carry: list[bytes | None] = [None]

    def add(self, leaf_inputs: list[bytes]) -> None:
        sha256 = hashlib.sha256
        hashes = [sha256(b"\x00" + x).digest() for x in leaf_inputs]
        levels, carry = self.levels, self.carry
        level = 0
        while hashes:
            if level == len(levels):
                levels.append(bytearray())
                carry.append(None)
            levels[level] += b"".join(hashes)
            left = carry[level]
            if left is not None:
                hashes.insert(0, left)
            carry[level] = hashes.pop() if len(hashes) & 1 else None
            pairs = iter(hashes)
            hashes = [sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs)]
            level += 1


class _Scan:
    """State of the leaf/event merge shared by the bulk path and the row-by-row path."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self.tree = _Tree()
        self.expected_index = 0
        self.last_nid = 0
        self.events_seen = 0
        self.topics: dict[str, bytes] = {}

    def topic_part(self, topic: str) -> bytes:
        part = self.topics.get(topic)
        if part is None:
            raw = topic.encode("utf-8")
            part = self.topics[topic] = _U16.pack(len(raw)) + raw
        return part

    def bulk(self, leaves: list[tuple], events: list[tuple]) -> bool:
        """Check one batch of leaves against the same number of event rows at C speed.

        True only if every check the row-by-row path makes passes for the whole batch:
        dense indices, increasing notification ids equal in leaf column, leaf header and
        event row, and each leaf byte-identical to the header the event row re-derives
        (with the leaf's own recorded_at).  Otherwise nothing is consumed and the caller
        runs the row-by-row path, which names the problems.
        """
        k = len(leaves)
        if len(events) != k:
            return False
        start = self.expected_index
        if [r[0] for r in leaves] != list(range(start, start + k)):
            return False
        nids = [r[1] for r in leaves]
        if nids != [r[0] for r in events] or nids[0] <= self.last_nid or not all(map(_LT, nids, nids[1:])):
            return False
        # Only 32-digit lowercase hex ids take the packed UUID form (as _row_oid_bytes
        # decides); anything else goes row by row.
        oids = [r[1] for r in events]
        if set(map(len, oids)) != {32} or _LOWER_HEX.fullmatch("".join(oids)) is None:
            return False
        topics = self.topics
        for topic in {r[3] for r in events}.difference(topics):
            self.topic_part(topic)
        sha256 = hashlib.sha256
        head = _HEAD_UUID.pack
        fromhex = bytes.fromhex
        inputs = [r[2] for r in leaves]
        expected = [LEAF_TAG + head(nid, 1, fromhex(oid), version) + topics[topic] + leaf[-40:-32]
                    + sha256(state).digest()
                    for (nid, oid, version, topic, state), leaf in zip(events, inputs)]
        if expected != inputs:
            return False
        self.expected_index = start + k
        self.last_nid = nids[-1]
        self.events_seen += k
        self.tree.add(inputs)
        return True

    def rows(self, leaves: Iterator[tuple], events: Iterator[tuple]) -> tuple | None:
        """Merge leaves with event rows one by one, naming every problem; returns the
        first event row not consumed (the caller reports it and any after it)."""
        problems = self.problems
        sha256 = hashlib.sha256
        pack_u64 = _U64.pack
        tag_len = _TAG_LEN
        pending: list[bytes] = []
        row = next(events, None)
        for leaf_index, nid_col, leaf_input in leaves:
            position = leaf_index
            if leaf_index != self.expected_index:
                problems.add(position, f"leaf indices not dense: expected {self.expected_index}, found {leaf_index}")
            self.expected_index = leaf_index + 1
            if len(leaf_input) < tag_len + 9 + 40 or not leaf_input.startswith(LEAF_TAG):
                problems.add(position, "leaf header malformed or of an unknown format", nid_col)
                nid = nid_col
            else:
                (nid,) = _U64.unpack_from(leaf_input, tag_len)
                if nid != nid_col:
                    problems.add(position, f"leaf row's notification_id column says {nid_col}, its header {nid}", nid)
            if nid <= self.last_nid:
                problems.add(position, f"notification id {nid} does not increase after {self.last_nid}", nid)
            self.last_nid = max(self.last_nid, nid)

            while row is not None and row[0] < nid:
                problems.add(position, f"notification {row[0]}: event row has NO leaf (inserted outside the "
                                       "audited path)", row[0], _display_oid(row[1]), row[2])
                self.events_seen += 1
                row = next(events, None)
            if row is not None and row[0] == nid:
                self.events_seen += 1
                _, row_oid, row_version, topic, state = row
                try:
                    oid_bytes = _row_oid_bytes(row_oid, leaf_input[tag_len + 8])
                    expected = None if oid_bytes is None else (
                        LEAF_TAG + pack_u64(nid) + oid_bytes + pack_u64(row_version) + self.topic_part(topic))
                except IndexError:
                    expected = None
                if expected is None or leaf_input[-32:] != sha256(state).digest() or leaf_input[:-40] != expected:
                    _diagnose(problems, position, nid, leaf_input, row)
                row = next(events, None)
            else:
                oid, version = _leaf_identity(leaf_input)
                problems.add(position, "event row is MISSING (deleted?)", nid, oid, version)

            pending.append(leaf_input)
            if len(pending) == _BATCH:
                self.tree.add(pending)
                pending = []
        self.tree.add(pending)
        return row


def _verify(scan: Scan, sql: AuditSQL, external: Sequence[tuple[str, Checkpoint]], vkey: VerifierKey | None,
            max_problems: int, has_checkpoint_table: bool,
            split: Callable[[], tuple[list[bytearray], int] | None] | None,
            cursor: Callable[[], Any], operator: Sequence[tuple[str, Checkpoint]]) -> VerifyResult:
    problems = _Problems(max_problems)
    result = VerifyResult(external_checkpoints=len(external))
    scanned = split() if split is not None else None
    levels, result.events = scanned if scanned is not None else _scan_all(scan, sql, problems)
    n = len(levels[0]) // 32
    result.leaves = n
    result.nodes = _check_nodes(scan, sql, levels, n, problems)
    checkpoints: list[tuple[str, Checkpoint]] = [*external, *operator]
    if has_checkpoint_table:
        checkpoints += _stored_checkpoints(scan, sql, vkey, problems)
    result.checkpoints_checked = _check_checkpoints(checkpoints, levels, n, problems)
    if not problems.items:
        result.indexes_checked = _check_heads(external, cursor(), sql, problems)
    result.problems = sorted(problems.items, key=lambda p: p.position)
    return result


def _check_heads(external: Sequence[tuple[str, Checkpoint]], c: Any, sql: AuditSQL, problems: _Problems) -> int:
    """The aggregate index an evaluator's checkpoint commits to must be the one the log
    gives at its size: a bundle proves completeness only through it.  Run once the leaves
    are known to match the event rows and the checkpoint's root, so the index derived from
    them is the log's.  Costs one grouped scan of the events' key index per checkpoint size;
    the database's own checkpoints are not re-derived (an evaluator passes the ones bundles
    came with)."""
    derived: dict[int, tuple[int, bytes]] = {}
    checked = 0
    for label, cp in sorted(external, key=lambda item: item[1].size):
        try:
            committed = cp.heads()
        except NoteError as e:
            problems.add(cp.size, f"{label}: {e}")
            continue
        if committed is None:
            continue
        if cp.size not in derived:
            index = read_head_index(c, sql, cp.size)
            derived[cp.size] = (index.count, index.root())
        count, root = derived[cp.size]
        checked += 1
        if (count, root) != committed:
            problems.add(cp.size, f"{label}: its aggregate index ({committed[0]} records) differs from the one the "
                                  f"log gives at tree size {cp.size} ({count} records): the checkpoint misstates "
                                  "some record's latest event, so bundles proven with it may leave events out")
    return checked


def _scan_all(scan: Scan, sql: AuditSQL, problems: _Problems) -> tuple[list[bytearray], int]:
    """Every leaf against every event row, in one snapshot; returns the tree levels and
    the number of event rows seen."""
    state = _Scan(problems)

    # Whole-store verification must run at >= 100k events/s in pure Python: batches of
    # leaves and event rows that line up (the normal case) are checked with list-wide
    # comparisons; any batch that does not is re-checked row by row, which names the
    # problems.  Once the two scans fall out of step, the rest is merged row by row.
    leaves_cur = scan(sql.scan_leaves)
    events_cur = scan(sql.scan_events)
    rest: Iterator[tuple] = _rows(events_cur)
    while True:
        leaves = leaves_cur.fetchmany(_BATCH)
        if not leaves:
            break
        events = events_cur.fetchmany(len(leaves))
        if state.bulk(leaves, events):
            continue
        if len(events) == len(leaves) and [r[1] for r in leaves] == [r[0] for r in events]:
            state.rows(iter(leaves), iter(events))
            continue
        row = state.rows(itertools.chain(leaves, _rows(leaves_cur)), itertools.chain(events, _rows(events_cur)))
        if row is not None:
            rest = itertools.chain([row], rest)
        break

    levels = state.tree.levels
    n = len(levels[0]) // 32
    for row in rest:
        problems.add(n, f"notification {row[0]}: event row has NO leaf (inserted outside the audited path)",
                     row[0], _display_oid(row[1]), row[2])
        state.events_seen += 1
    return levels, state.events_seen


# ---------------------------------------------------------------- two processes (SQLite)
#
# Hashing is most of the work (this is SHA-256 over every stored byte, without SHA
# instructions on many servers) and hashlib keeps the GIL for inputs this small, so a
# second core only helps as a second process.  A child process checks the upper part
# of the leaves with the bulk path while this one checks the lower part; the tree levels
# they build are joined below the split.  Only a store that is clean in both parts is
# accepted this way: anything else (a problem, a concurrent commit that could make the
# two snapshots differ, no fork) returns None and the single-process scan runs in this
# process's snapshot, naming the problems.

_SPLIT_MIN_LEAVES = 50_000
# Share of the leaves this process checks itself; it also compares the stored nodes.
_SPLIT_SHARE = 0.4
_SQLITE_LEAVES_FROM = ("SELECT leaf_index, notification_id, leaf_input FROM audit_leaf "
                       "WHERE leaf_index >= ? ORDER BY leaf_index")
_SQLITE_LEAVES_BELOW = ("SELECT leaf_index, notification_id, leaf_input FROM audit_leaf "
                        "WHERE leaf_index < ? ORDER BY leaf_index")
_SQLITE_EVENTS_ABOVE = ("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
                        "WHERE rowid > ? ORDER BY rowid")
_SQLITE_EVENTS_UPTO = ("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
                       "WHERE rowid <= ? ORDER BY rowid")


def _bulk_part(leaves_cur: Any, events_cur: Any, state: _Scan, stop: int | None) -> bool:
    """Bulk-check one part; True if every leaf and every event row of it line up clean."""
    while True:
        leaves = leaves_cur.fetchmany(_BATCH)
        if not leaves:
            break
        if not state.bulk(leaves, events_cur.fetchmany(len(leaves))):
            return False
    return events_cur.fetchone() is None and (stop is None or state.expected_index == stop)


def _upper_part(db_path: str | Path, start: int, after_nid: int, top: int, send: Any) -> None:
    """Child process: bulk-check leaves from ``start`` against event rows after ``after_nid``."""
    try:
        conn = connect_sqlite(db_path)
        conn.execute("BEGIN")
        conn.execute("SELECT 1 FROM audit_leaf LIMIT 1").fetchall()  # takes the read snapshot
        send.send("ready")
        state = _Scan(_Problems(0))
        state.expected_index, state.last_nid = start, after_nid
        if _bulk_part(conn.execute(_SQLITE_LEAVES_FROM, (start,)), conn.execute(_SQLITE_EVENTS_ABOVE, (after_nid,)),
                      state, None):
            send.send((state.expected_index, [bytes(level) for level in state.tree.levels[:top + 1]],
                       state.events_seen))
        else:
            send.send(None)
    except BaseException:  # whatever went wrong, the parent re-checks in one process
        send.send(None)


def _split_scan(db_path: str | Path, conn: sqlite3.Connection, probe: sqlite3.Connection, version_before: int
                ) -> tuple[list[bytearray], int] | None:
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    last, count = conn.execute("SELECT MAX(leaf_index), COUNT(*) FROM audit_leaf").fetchone()
    if count < _SPLIT_MIN_LEAVES or last != count - 1:
        return None
    n = count
    # The split is a multiple of 2**top, so levels 0..top of the two parts are exactly
    # the global ones; this process also compares the stored nodes afterwards, so it
    # takes the smaller part.
    top = max(0, n.bit_length() - 6)
    split = int(n * _SPLIT_SHARE) >> top << top
    row = conn.execute("SELECT notification_id FROM audit_leaf WHERE leaf_index = ?", (split - 1,)).fetchone()
    if split == 0 or row is None:
        return None
    split_nid = row[0]
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_upper_part, args=(db_path, split, split_nid, top, send), daemon=True)
    child.start()
    send.close()
    try:
        if recv.recv() != "ready":
            return None
        # No commit between the two probes means both read snapshots show the same state.
        if probe.execute("PRAGMA data_version").fetchone()[0] != version_before:
            return None
        state = _Scan(_Problems(0))
        if not _bulk_part(conn.execute(_SQLITE_LEAVES_BELOW, (split,)),
                          conn.execute(_SQLITE_EVENTS_UPTO, (split_nid,)), state, split):
            return None
        upper = recv.recv()
    except EOFError:
        return None
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join()
        recv.close()
    if upper is None or upper[0] != n:
        return None
    _, upper_levels, upper_events = upper
    levels = [state.tree.levels[k] + (upper_levels[k] if k < len(upper_levels) else b"") for k in range(top + 1)]
    sha256 = hashlib.sha256
    while len(levels[-1]) >= 64:
        below = levels[-1]
        levels.append(bytearray(b"".join([sha256(b"\x01" + below[i:i + 64]).digest()
                                          for i in range(0, len(below) - 63, 64)])))
    return levels, state.events_seen + upper_events


def _node(levels: list[bytearray], level: int, index: int) -> bytes | None:
    if level >= len(levels):
        return None
    arr = levels[level]
    start = index * 32
    return bytes(arr[start:start + 32]) if start + 32 <= len(arr) else None


def _expected_nodes(levels: list[bytearray], n: int) -> tuple[list[int], bytearray]:
    """All perfect node ids in ascending order and their hashes, concatenated in that order.

    In-order ids of a tree of n leaves fill 0..2n-2 except a few right-edge nodes that
    are not perfect yet, and each level is an arithmetic progression of ids, so the
    layout is built with 32 strided slice copies per level instead of a Python loop.
    """
    slots = 2 * n - 1 if n else 0
    blob = bytearray(slots * 32)
    skip = []
    for level in range(slots.bit_length()):
        arr = levels[level] if level < len(levels) else bytearray()
        count = len(arr) // 32
        start, stride = (1 << level) - 1, 1 << (level + 1)
        if count:
            for b in range(32):
                lo = start * 32 + b
                blob[lo:lo + count * stride * 32:stride * 32] = arr[b::32]
        key = start + count * stride
        while key < slots:
            skip.append(key)
            key += stride
    ids = list(range(slots))
    for key in sorted(skip, reverse=True):
        del ids[key]
        del blob[key * 32:(key + 1) * 32]
    return ids, blob


def _nodes_match(scan: Scan, sql: AuditSQL, levels: list[bytearray], n: int) -> bool:
    ids, blob = _expected_nodes(levels, n)
    cur = scan(sql.scan_nodes)
    pos = 0
    while True:
        rows = cur.fetchmany(65536)
        if not rows:
            return pos == len(ids)
        k = len(rows)
        if [r[0] for r in rows] != ids[pos:pos + k]:
            return False
        if b"".join([r[1] for r in rows]) != blob[pos * 32:(pos + k) * 32]:
            return False
        pos += k


def _check_nodes(scan: Scan, sql: AuditSQL, levels: list[bytearray], n: int, problems: _Problems) -> int:
    if _nodes_match(scan, sql, levels, n):
        return merkle.perfect_node_count(n)
    cur = scan(sql.scan_nodes)
    coords = merkle.node_coords
    count = 0
    for key, stored in _rows(cur):
        count += 1
        level, index = coords(key)
        expected = _node(levels, level, index)
        covers = f"covering leaves [{index << level},{(index + 1) << level})"
        if expected is None:
            problems.add(index << level, f"stored tree node (level {level}, index {index}) {covers} is not "
                                         "derivable from the leaves present (tail truncated?)")
        elif stored != expected:
            problems.add(index << level, f"stored tree node (level {level}, index {index}) {covers} differs "
                                         "from the hash recomputed from the leaves")
    if count != merkle.perfect_node_count(n):
        present = {r[0] for r in _rows(scan(sql.scan_nodes))}
        for level in range(len(levels)):
            for index in range(n >> level):
                if merkle.node_key(level, index) not in present:
                    problems.add(index << level, f"stored tree node (level {level}, index {index}) covering "
                                                 f"leaves [{index << level},{(index + 1) << level}) is missing")
                    return count
    return count


def _stored_checkpoints(scan: Scan, sql: AuditSQL, vkey: VerifierKey | None,
                        problems: _Problems) -> list[tuple[str, Checkpoint]]:
    out = []
    for size, root, note in _rows(scan(sql.select_checkpoints)):
        label = f"stored checkpoint size {size}"
        if vkey is not None:
            try:
                cp = open_checkpoint(note, vkey)
            except NoteError as e:
                problems.add(size, f"{label}: {e}")
                continue
            if cp.size != size or cp.root != bytes(root):
                problems.add(size, f"{label}: row does not match its signed note")
                continue
        else:
            cp = Checkpoint("", size, bytes(root))
        out.append((label, cp))
    return out


def _root_at(levels: list[bytearray], size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    h = None
    for level, index in merkle.Frontier.node_ids(size):
        node = _node(levels, level, index)
        assert node is not None
        h = node if h is None else merkle.node_hash(node, h)
    assert h is not None
    return h


def _check_checkpoints(checkpoints: Sequence[tuple[str, Checkpoint]], levels: list[bytearray], n: int,
                       problems: _Problems) -> int:
    checked = 0
    last_good = 0
    for label, cp in sorted(checkpoints, key=lambda item: item[1].size):
        checked += 1
        if cp.size > n:
            problems.add(n, f"{label}: checkpoint size {cp.size} > {n} leaves present: history TRUNCATED "
                            f"after leaf {n - 1}")
            continue
        if _root_at(levels, cp.size) == cp.root:
            last_good = max(last_good, cp.size)
        else:
            problems.add(last_good, f"{label}: recomputed root differs; last matching checkpoint has size "
                                    f"{last_good} -> history rewritten within leaves [{last_good},{cp.size})")
    return checked
