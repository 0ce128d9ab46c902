"""Idempotency-Key on POST: a retry with the same key and body gets the first answer back.

The HTTP API (``api.http.app``) claims, settles and releases keys around each command and
answers the two refusals below as problems.

Records live in the side store ``idempotency`` (:class:`workflows.store.sqlstore.SqlStore`): the
PostgreSQL database in production, so every process on every host sees the same keys, or
``COBUILD_HOME/idempotency.sqlite`` embedded.  They survive restarts either way.

Only successful answers are kept.  A refused command wrote nothing, so running its retry
again is safe and gives the client an up-to-date answer (a lost race becomes a success).

The answer is written after the command committed; that it committed is known from the
receipt the engine wrote with the events (``workflows/store/idempotency.py``), which the
API reads before running a retry whose answer is missing.

An answer that carries a secret (a new user's token, an activation code) is never kept:
its record holds a marker instead of the body (``body`` NULL), and a retry gets 410
``secret-shown-once`` (DESIGN §13 "No secret at rest in clear").
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from workflows.store import schema
from workflows.store.clock import Clock
from workflows.store.idempotency import RETENTION
from workflows.store.settings import Settings
from workflows.store.sqlstore import SqlStore

# Answers are kept as long as the engine keeps its receipts: past it, a retry is new.
TTL = RETENTION
# A claim whose request never finished (the process died) is released after this long.
CLAIM_TIMEOUT = timedelta(seconds=60)
KEPT_HEADERS = ("Content-Type", "ETag", "Location")

# The table name and columns are those the SQLite file had before the store moved, so an
# existing idempotency.sqlite keeps its records (the step's CREATE finds the table there).
SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status BIGINT,
    headers TEXT,
    body TEXT,
    PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at)
"""


@schema.step("idempotency", 1, "Idempotency-Key records of the HTTP API")
def _create(settings: Settings) -> None:
    store = SqlStore(settings, "idempotency", pool_size=1)
    try:
        store.script(SCHEMA)
    finally:
        store.close()


class KeyReused(Exception):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was already used for a different request")


class KeyInUse(Exception):
    def __init__(self) -> None:
        super().__init__("a request with this Idempotency-Key is still being processed")


class SecretShownOnce(Exception):
    def __init__(self) -> None:
        super().__init__("the answer to this request carried a secret, which is shown once and never "
                         "kept: ask for a new one (a new token, a new activation code)")


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
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.store = SqlStore(settings, "idempotency")
        self.clock = clock

    def begin(self, principal: str, key: str, print_: str) -> StoredAnswer | None:
        """Claim the key for this request, or return the answer already given for it.

        The look and the claim are one transaction, and the store's writers take turns, so
        of two requests racing with one key exactly one claims it.
        """
        now = self.clock.now()
        with self.store.write() as cur:
            row = cur.execute(
                "SELECT fingerprint, created_at, status, headers, body FROM idempotency_keys"
                " WHERE principal = ? AND idempotency_key = ?", (principal, key)).fetchone()
            if row is not None:
                created = datetime.strptime(row[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
                stale_claim = row[2] is None and now - created > CLAIM_TIMEOUT
                if now - created > TTL or stale_claim:
                    cur.execute("DELETE FROM idempotency_keys WHERE principal = ? AND idempotency_key = ?",
                                (principal, key))
                    row = None
            if row is None:
                cur.execute(
                    "INSERT INTO idempotency_keys (principal, idempotency_key, fingerprint, created_at)"
                    " VALUES (?, ?, ?, ?)", (principal, key, print_, _stamp(now)))
                return None
        stored_print, _, status, headers, body = row
        if stored_print != print_:
            raise KeyReused()
        if status is None:
            raise KeyInUse()
        if body is None:
            raise SecretShownOnce()
        return StoredAnswer(status, json.loads(headers), body)

    def finish(self, principal: str, key: str, answer: StoredAnswer) -> None:
        with self.store.write() as cur:
            cur.execute(
                "UPDATE idempotency_keys SET status = ?, headers = ?, body = ?"
                " WHERE principal = ? AND idempotency_key = ?",
                (answer.status, json.dumps(answer.headers), answer.body, principal, key))

    def withhold(self, principal: str, key: str, status: int) -> None:
        """Finish the key with a marker: its answer carried a secret, which is not kept."""
        with self.store.write() as cur:
            cur.execute(
                "UPDATE idempotency_keys SET status = ?, headers = ?, body = NULL"
                " WHERE principal = ? AND idempotency_key = ?",
                (status, "{}", principal, key))

    def release(self, principal: str, key: str) -> None:
        with self.store.write() as cur:
            cur.execute("DELETE FROM idempotency_keys WHERE principal = ? AND idempotency_key = ?"
                        " AND status IS NULL", (principal, key))

    def count(self) -> int:
        with self.store.read() as cur:
            return cur.execute("SELECT COUNT(*) FROM idempotency_keys").one()[0]

    def close(self) -> None:
        self.store.close()

    def purge(self) -> int:
        """Delete the answers older than ``TTL`` (an expired one is ignored until then); run
        now and then by the scheduler's worker (``Worker.tidy``), not per request."""
        with self.store.write() as cur:
            return cur.execute("DELETE FROM idempotency_keys WHERE created_at < ?",
                               (_stamp(self.clock.now() - TTL),)).rowcount
