"""Idempotency-Key receipts, written in the same transaction as the command's events.

DESIGN §13 "Retries after a crash": an ``Idempotency-Key`` whose command was committed is
never run twice, whatever crashed in between.  The HTTP API keeps each key's *answer* in a
side store (``api/http/idempotency.py``), written after the commit; a process that dies
between the commit and that write used to leave the key unfinished, and the retry ran the
command again.  So the engine also writes a *receipt* — the key, the request's fingerprint
and the command's outcome — through the event recorder, in the events' own transaction
(as the Merkle leaves are): either both are stored or neither is.  A retry that finds no
finished answer looks for the receipt before running anything.

Receipts live beside the events (the event store's SQLite file, or the PostgreSQL database)
and are read by key only.  They are kept for ``RETENTION`` (by the engine's clock), the
answers of the API's side store as long: within it a retry gets the first answer; after
it the key is free again and a retry is a new request.  The scheduler's worker deletes
expired receipts now and then (``purge``); until it does, an expired one is ignored and a
new command with its key replaces it.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence
from uuid import UUID

from workflows.store import schema
from workflows.store.settings import Settings

TABLE = "command_receipts"
# How long a keyed command's answer is kept: a day, as the common APIs keep theirs (Stripe,
# for one), which covers a client's retries after any outage it can ride out.
RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class CommandKey:
    """Who sent a keyed request, its key, and the fingerprint of the request."""

    principal: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class CommittedOutcome:
    """What a receipt says a command did (the engine's ``Outcome`` as stored)."""

    fingerprint: str
    id: UUID
    version: int
    state: str
    position: int | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Receipt:
    """Handed to the recorder with the events; ``position`` is known only in the transaction."""

    key: CommandKey
    id: UUID
    version: int
    state: str
    details: Mapping[str, Any]
    at: float  # when, by the engine's clock (a POSIX timestamp)

    def row(self, notification_ids: Sequence[int]) -> tuple[Any, ...]:
        outcome = {"id": str(self.id), "version": self.version, "state": self.state,
                   "position": notification_ids[-1] if notification_ids else None,
                   "details": dict(self.details)}
        return (self.key.principal, self.key.key, self.key.fingerprint,
                json.dumps(outcome, default=str, ensure_ascii=False), self.at)


@dataclass(frozen=True)
class ReceiptSQL:
    create: str
    insert: str
    select: str
    forget: str  # the key's expired receipt, before a new command with the key
    purge: str   # every expired receipt


SQLITE = ReceiptSQL(
    create=f"CREATE TABLE IF NOT EXISTS {TABLE} (principal TEXT NOT NULL, "
           "idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL, outcome TEXT NOT NULL, "
           "recorded_at REAL NOT NULL, PRIMARY KEY (principal, idempotency_key))",
    insert=f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?)",
    select=f"SELECT fingerprint, outcome, recorded_at FROM {TABLE}"
           " WHERE principal = ? AND idempotency_key = ?",
    forget=f"DELETE FROM {TABLE} WHERE principal = ? AND idempotency_key = ? AND recorded_at < ?",
    purge=f"DELETE FROM {TABLE} WHERE recorded_at < ?",
)
POSTGRES = ReceiptSQL(
    create=f"CREATE TABLE IF NOT EXISTS {TABLE} (principal text NOT NULL, "
           "idempotency_key text NOT NULL, fingerprint text NOT NULL, outcome text NOT NULL, "
           "recorded_at double precision NOT NULL, PRIMARY KEY (principal, idempotency_key))",
    insert=f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s)",
    select=f"SELECT fingerprint, outcome, recorded_at FROM {TABLE}"
           " WHERE principal = %s AND idempotency_key = %s",
    forget=f"DELETE FROM {TABLE} WHERE principal = %s AND idempotency_key = %s AND recorded_at < %s",
    purge=f"DELETE FROM {TABLE} WHERE recorded_at < %s",
)


def write(cursor: Any, sql: ReceiptSQL, receipt: Receipt | None,
          notification_ids: Sequence[int] | None) -> None:
    """In the recorder's transaction, after the events were inserted."""
    if receipt is not None:
        key = receipt.key
        cursor.execute(sql.forget, (key.principal, key.key,
                                    receipt.at - RETENTION.total_seconds()))
        cursor.execute(sql.insert, receipt.row(list(notification_ids or ())))


def read(cursor: Any, sql: ReceiptSQL, principal: str, key: str,
         now: datetime) -> CommittedOutcome | None:
    """The receipt of ``key``, unless it expired by ``now``."""
    cursor.execute(sql.select, (principal, key))
    row = cursor.fetchone()
    if row is None:
        return None
    fingerprint, outcome, at = tuple(row.values()) if isinstance(row, dict) else tuple(row)
    if at < (now - RETENTION).timestamp():
        return None
    data = json.loads(outcome)
    return CommittedOutcome(fingerprint, UUID(data["id"]), data["version"], data["state"],
                            data["position"], data["details"])


def purge(cursor: Any, sql: ReceiptSQL, now: datetime) -> int:
    """Delete the receipts expired by ``now``; how many.  Safe beside other processes: a
    receipt is deleted once, whoever deletes it, and a live one is never touched."""
    cursor.execute(sql.purge, ((now - RETENTION).timestamp(),))
    raw = getattr(cursor, "sqlite_cursor", cursor)  # the library wraps SQLite's, not psycopg's
    return max(raw.rowcount, 0)


@schema.step("receipts", 1, "Idempotency-Key receipts written with the events (command_receipts)")
def _create(settings: Settings) -> None:
    if settings.is_postgres:
        import psycopg

        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(POSTGRES.create)
        return
    path = settings.eventsourcing_env()["SQLITE_DBNAME"]
    with sqlite3.connect(path) as db:
        db.execute(SQLITE.create)
    db.close()
