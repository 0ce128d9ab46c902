"""Idempotency-Key on POST: a retry with the same key and body gets the first answer back.

Records live in a small table of their own SQLite file under ``COBUILD_HOME``, so they
survive restarts and are shared by every worker process on the host.  The SQL is plain
SQL-92 apart from the ``?`` placeholders, so the same table works on PostgreSQL.

Only successful answers are kept.  A refused command wrote nothing, so running its retry
again is safe and gives the client an up-to-date answer (a lost race becomes a success).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from api.problems import Problem
from workflows.clock import Clock

TTL = timedelta(hours=24)
# A claim whose request never finished (the process died) is released after this long.
CLAIM_TIMEOUT = timedelta(seconds=60)
KEPT_HEADERS = ("Content-Type", "ETag", "Location")

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal VARCHAR(64) NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    fingerprint CHAR(64) NOT NULL,
    created_at VARCHAR(32) NOT NULL,
    status INTEGER,
    headers TEXT,
    body TEXT,
    PRIMARY KEY (principal, idempotency_key)
)
"""
INDEX = "CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at)"


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    headers: dict[str, str]
    body: str


def _stamp(moment: datetime) -> str:
    # A fixed-width UTC form, so comparing the text compares the times.
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The same request is the same JSON, whatever its key order or spacing."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


class IdempotencyStore:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._local = threading.local()
        self._purged_at: datetime | None = None
        with self._connection() as conn:
            conn.execute(SCHEMA)
            conn.execute(INDEX)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def begin(self, principal: str, key: str, print_: str) -> StoredAnswer | None:
        """Claim the key for this request, or return the answer already given for it."""
        now = self.clock.now()
        conn = self._connection()
        self._purge(conn, now)
        for _ in range(3):
            try:
                conn.execute(
                    "INSERT INTO idempotency_keys (principal, idempotency_key, fingerprint, created_at)"
                    " VALUES (?, ?, ?, ?)", (principal, key, print_, _stamp(now)))
                return None
            except sqlite3.IntegrityError:
                row = conn.execute(
                    "SELECT fingerprint, created_at, status, headers, body FROM idempotency_keys"
                    " WHERE principal = ? AND idempotency_key = ?", (principal, key)).fetchone()
            if row is None:
                continue  # released meanwhile: claim again
            stored_print, created_at, status, headers, body = row
            created = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            stale_claim = status is None and now - created > CLAIM_TIMEOUT
            if now - created > TTL or stale_claim:
                conn.execute("DELETE FROM idempotency_keys WHERE principal = ? AND idempotency_key = ?"
                             " AND created_at = ?", (principal, key, created_at))
                continue
            if stored_print != print_:
                raise Problem(422, "idempotency-key-reused",
                              "this Idempotency-Key was already used for a different request")
            if status is None:
                raise Problem(409, "idempotency-key-in-use",
                              "a request with this Idempotency-Key is still being processed",
                              headers={"Retry-After": "1"})
            return StoredAnswer(status, json.loads(headers), body)
        raise Problem(409, "idempotency-key-in-use", "the Idempotency-Key is contended; retry",
                      headers={"Retry-After": "1"})

    def finish(self, principal: str, key: str, answer: StoredAnswer) -> None:
        self._connection().execute(
            "UPDATE idempotency_keys SET status = ?, headers = ?, body = ?"
            " WHERE principal = ? AND idempotency_key = ?",
            (answer.status, json.dumps(answer.headers), answer.body, principal, key))

    def release(self, principal: str, key: str) -> None:
        self._connection().execute(
            "DELETE FROM idempotency_keys WHERE principal = ? AND idempotency_key = ?"
            " AND status IS NULL", (principal, key))

    def count(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0]

    def _purge(self, conn: sqlite3.Connection, now: datetime) -> None:
        if self._purged_at is not None and now - self._purged_at < CLAIM_TIMEOUT:
            return
        self._purged_at = now
        conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (_stamp(now - TTL),))
