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
and are read by key only.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from uuid import UUID

from workflows.store import schema
from workflows.store.settings import Settings

TABLE = "command_receipts"


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

    def row(self, notification_ids: Sequence[int]) -> tuple[Any, ...]:
        outcome = {"id": str(self.id), "version": self.version, "state": self.state,
                   "position": notification_ids[-1] if notification_ids else None,
                   "details": dict(self.details)}
        return (self.key.principal, self.key.key, self.key.fingerprint,
                json.dumps(outcome, default=str, ensure_ascii=False), time.time())


@dataclass(frozen=True)
class ReceiptSQL:
    create: str
    insert: str
    select: str


SQLITE = ReceiptSQL(
    create=f"CREATE TABLE IF NOT EXISTS {TABLE} (principal TEXT NOT NULL, "
           "idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL, outcome TEXT NOT NULL, "
           "recorded_at REAL NOT NULL, PRIMARY KEY (principal, idempotency_key))",
    insert=f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?)",
    select=f"SELECT fingerprint, outcome FROM {TABLE} WHERE principal = ? AND idempotency_key = ?",
)
POSTGRES = ReceiptSQL(
    create=f"CREATE TABLE IF NOT EXISTS {TABLE} (principal text NOT NULL, "
           "idempotency_key text NOT NULL, fingerprint text NOT NULL, outcome text NOT NULL, "
           "recorded_at double precision NOT NULL, PRIMARY KEY (principal, idempotency_key))",
    insert=f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s)",
    select=f"SELECT fingerprint, outcome FROM {TABLE} WHERE principal = %s AND idempotency_key = %s",
)


def write(cursor: Any, sql: ReceiptSQL, receipt: Receipt | None,
          notification_ids: Sequence[int] | None) -> None:
    """In the recorder's transaction, after the events were inserted."""
    if receipt is not None:
        cursor.execute(sql.insert, receipt.row(list(notification_ids or ())))


def read(cursor: Any, sql: ReceiptSQL, principal: str, key: str) -> CommittedOutcome | None:
    cursor.execute(sql.select, (principal, key))
    row = cursor.fetchone()
    if row is None:
        return None
    fingerprint, outcome = tuple(row.values()) if isinstance(row, dict) else tuple(row)
    data = json.loads(outcome)
    return CommittedOutcome(fingerprint, UUID(data["id"]), data["version"], data["state"],
                            data["position"], data["details"])


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
