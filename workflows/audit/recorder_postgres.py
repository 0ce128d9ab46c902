"""The verifiable log on PostgreSQL: the same leaves and tree as on SQLite.

:class:`AuditedPostgresApplicationRecorder` appends the leaves and perfect nodes inside
eventsourcing's insert transaction, after the ``LOCK TABLE ... IN EXCLUSIVE MODE`` that
makes commit order equal notification order, so leaves are appended in that order too.
A conflicting save raises before the hook runs and its transaction rolls back whole: the
sequence value it burnt leaves a gap in notification ids, while leaf indices stay dense
(the leaf stores the notification id).

eventsourcing 9.5 hands the hook a cursor whose rows are dicts; the audit code reads
tuples, so it works through a second cursor of the same connection (same transaction).

Group commit: the table lock makes every writer of the database wait its turn, so the
threads of one process that want to save while a save is under way queue up, and the next
of them to go saves the whole queue in one transaction (one lock, one tree-size read, one
WAL flush).  Should that transaction fail on a constraint (two of the queued saves for one
aggregate version, a receipt taken twice), each save is done again on its own, so one
save's conflict never becomes another's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL

from workflows.store import idempotency
from workflows.audit.recorder import (
    AuditAppender, AuditLog, AuditSQL, AuditStorageError, TransactionFactory, frontier_from, postgres_sql,
)
from workflows.store.sqlstore import check_if_idle

__all__ = ["AuditedPostgresApplicationRecorder", "connect_postgres", "postgres_snapshot", "recorder_snapshot"]


@dataclass(eq=False)
class _Save:
    """One caller's save waiting in the queue, and what became of it."""

    stored_events: Sequence[StoredEvent]
    kwargs: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # woken to save the queue rather than with its outcome
    ids: Sequence[int] | None = None
    error: BaseException | None = None

    def outcome(self) -> Sequence[int] | None:
        if self.error is not None:
            raise self.error
        return self.ids


class AuditedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """The application recorder on PostgreSQL (``workflows.audit.wiring``)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        if datastore.enable_db_functions:
            # That path inserts through a PL/pgSQL function and never reaches the hook,
            # so events would be stored without leaves.
            raise AuditStorageError("the audited recorder cannot run with POSTGRES_ENABLE_DB_FUNCTIONS=y")
        super().__init__(datastore, events_table_name=events_table_name)
        self.audit_sql: AuditSQL = postgres_sql(events_table_name)
        self.audit_appender = AuditAppender(self.audit_sql)
        # The library's list is typed for Composed statements; it executes plain SQL alike.
        self.sql_create_statements.extend(SQL(s) for s in self.audit_sql.create)  # type: ignore[misc]
        self.sql_create_statements.append(SQL(idempotency.POSTGRES.create))  # type: ignore[arg-type]
        self._frontier_reads = threading.local()
        self._queue: list[_Save] = []
        self._queue_lock = threading.Lock()
        self._saving = False
        if datastore.pre_ping:
            # Checked only after a second unused: see ``check_if_idle``.  (psycopg_pool
            # takes its check when built, and eventsourcing builds it.)
            datastore.pool._check = check_if_idle

    def _lock_table(self, curs: psycopg.Cursor[Any]) -> None:
        """Takes the lock, then reads the tree's frontier in the same pipeline as the insert
        that follows: one round trip less while the lock is held.  Read before the insert,
        so an insert that conflicts is still the pipeline's first error, and raised as one."""
        super()._lock_table(curs)
        reader = curs.connection.cursor(row_factory=tuple_row)
        assert self.audit_sql.select_frontier is not None  # postgres_sql says it
        reader.execute(self.audit_sql.select_frontier)
        self._frontier_reads.cursor = reader

    def _notify_channel(self, curs: psycopg.Cursor[Any]) -> None:
        """No ``NOTIFY`` per commit: nothing here LISTENs (the projection runner, the relay
        and the scheduler poll the log), and each notifying commit takes the database's
        notification-queue lock, one more thing every writer waits its turn for."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return self._insert(stored_events, kwargs)
        mine = _Save(stored_events, kwargs)
        with self._queue_lock:
            self._queue.append(mine)
            leads = not self._saving
            self._saving = True
        if not leads:
            mine.done.wait()
            if not mine.leads:
                return mine.outcome()
        with self._queue_lock:
            batch, self._queue = self._queue, []
        try:
            self._save_batch(batch)
        finally:
            with self._queue_lock:
                if self._queue:
                    self._queue[0].leads = True
                    self._queue[0].done.set()
                else:
                    self._saving = False
        return mine.outcome()

    def _save_batch(self, batch: list[_Save]) -> None:
        """Saves every queued save, in one transaction when it can, and tells each caller."""
        if len(batch) > 1:
            events = [e for save in batch for e in save.stored_events]
            try:
                ids = self._insert(events, {"batch": batch})
            except IntegrityError:
                pass  # one of them conflicts: each on its own below, so only it fails
            except BaseException as e:
                for save in batch:
                    save.error = e
                    save.done.set()
                return
            else:
                assert ids is not None
                at = 0
                for save in batch:
                    save.ids = ids[at:at + len(save.stored_events)]
                    at += len(save.stored_events)
                    save.done.set()
                return
        for save in batch:
            try:
                save.ids = self._insert(save.stored_events, save.kwargs)
            except BaseException as e:
                save.error = e
            save.done.set()

    def _insert(self, stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> Sequence[int] | None:
        try:
            with self.audit_appender.saving():
                return super().insert_events(stored_events, **kwargs)
        finally:
            reader = self._frontier_reads.__dict__.pop("cursor", None)
            if reader is not None:
                reader.close()

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if stored_events:
            if not ids:
                raise AuditStorageError("the event recorder returned no notification ids to audit")
            frontier = frontier_from(self._frontier_reads.cursor.fetchall())
            with curs.connection.cursor(row_factory=tuple_row) as c:
                self.audit_appender.append(c, ids, stored_events, frontier)
                # An Idempotency-Key's receipt commits with the events or not at all.
                at = 0
                for save in kwargs.get("batch") or [_Save(stored_events, kwargs)]:
                    idempotency.write(c, idempotency.POSTGRES, save.kwargs.get("receipt"),
                                      ids[at:at + len(save.stored_events)])
                    at += len(save.stored_events)
        return ids

    @property
    def audit(self) -> AuditLog:
        """The log this recorder writes, each read in one repeatable-read snapshot."""
        return AuditLog(recorder_snapshot(self), self.audit_sql)

    def store_checkpoint(self, size: int, root: bytes, note: str, recorded_at: float) -> None:
        """Keep a signed head beside the leaves."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self.audit_sql.insert_checkpoint, (size, root, note, recorded_at))


def _repeatable_read(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Cursor[Any]]:
    # One snapshot per read, as SQLite's BEGIN gives: a proof never mixes two tree states.
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with conn.cursor(row_factory=tuple_row) as c:
            yield c


def recorder_snapshot(recorder: PostgresApplicationRecorder) -> TransactionFactory:
    @contextmanager
    def txn() -> Iterator[psycopg.Cursor[Any]]:
        with recorder.datastore.get_connection() as conn:
            yield from _repeatable_read(conn)

    return txn


def connect_postgres(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def postgres_snapshot(conn: psycopg.Connection[Any]) -> TransactionFactory:
    @contextmanager
    def txn() -> Iterator[psycopg.Cursor[Any]]:
        yield from _repeatable_read(conn)

    return txn


def backfill(conn: psycopg.Connection[Any], sql: AuditSQL, batch: int = 5000) -> int:
    """Give leaves to the events stored before the log existed; returns how many.

    Only a log with no leaves at all is backfilled: events without leaves in a log that
    has some were written around the audited recorder, which verification must report,
    not paper over.  The events table is locked as the recorder locks it, so no event
    is written (or gets a leaf) meanwhile; the leaves' ``recorded_at`` is the backfill time.
    """
    appender = AuditAppender(sql)
    done = 0
    with conn.transaction():
        conn.execute(f"LOCK TABLE {sql.events_table} IN EXCLUSIVE MODE")
        with conn.cursor(row_factory=tuple_row) as c:
            c.execute("SELECT 1 FROM audit_leaf LIMIT 1")
            if c.fetchone() is not None:
                return 0
            with conn.cursor(name="audit_backfill", row_factory=tuple_row) as rows:
                rows.execute(f"SELECT notification_id, originator_id, originator_version, topic, state "
                             f"FROM {sql.events_table} ORDER BY notification_id")
                while chunk := rows.fetchmany(batch):
                    appender.append(c, [r[0] for r in chunk],
                                    [StoredEvent(r[1], r[2], r[3], bytes(r[4])) for r in chunk])
                    appender.committed()  # the frontier carries over between chunks of one transaction
                    done += len(chunk)
    return done
