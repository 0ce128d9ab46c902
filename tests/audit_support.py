"""Test support for the audit tests: a throwaway application in an importable module.

Aggregates must live in an importable module (not a test file run as ``__main__``) so
that their topics resolve when the store is reopened.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from workflows.audit.recorder import AuditedSQLiteApplicationRecorder

AUDITED_RECORDER_TOPIC = get_topic(AuditedSQLiteApplicationRecorder)


# RFC 9162 proof vectors from transparency-dev/merkle, with their licence (README.md there).
MERKLE_VECTORS = Path(__file__).resolve().parent / "data" / "merkle"


class Ledger(Aggregate):
    @event("Opened")
    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []

    @event("LineAdded")
    def add_line(self, text: str) -> None:
        self.lines.append(text)


class LedgerApp(Application[UUID]):
    def open(self, title: str, lines: int = 0) -> UUID:
        ledger = Ledger(title)
        for i in range(lines):
            ledger.add_line(f"{title} line {i}")
        self.save(ledger)
        return ledger.id

    def add(self, ledger_id: UUID, text: str) -> None:
        ledger: Ledger = self.repository.get(ledger_id)
        ledger.add_line(text)
        self.save(ledger)


def make_app(db_path: Path | str, *, audited: bool = True) -> LedgerApp:
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(db_path),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    if audited:
        env["APPLICATION_RECORDER_TOPIC"] = AUDITED_RECORDER_TOPIC
    return LedgerApp(env=env)


# ---------------------------------------------------------------- tampering helpers


def drop_audit_triggers(conn) -> None:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for name in names:
        conn.execute(f"DROP TRIGGER {name}")


def rebuild_audit_tables(conn, *, clear_checkpoints: bool = True) -> None:
    """What an insider without the signing key does after editing events: recompute every
    leaf (keeping the original recorded_at) and every tree node so the store is
    internally consistent again."""
    from workflows.audit import merkle
    from workflows.audit.recorder import leaf_prefix, encode_originator_id
    from workflows.audit.verifier import decode_leaf
    import hashlib
    import struct
    import uuid

    drop_audit_triggers(conn)
    old = {r[0]: decode_leaf(r[1]) for r in conn.execute("SELECT notification_id, leaf_input FROM audit_leaf")}
    rows = conn.execute("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
                        " ORDER BY rowid").fetchall()
    conn.execute("DELETE FROM audit_leaf")
    conn.execute("DELETE FROM audit_node")
    if clear_checkpoints:
        conn.execute("DELETE FROM audit_checkpoint")
    f = merkle.Frontier()
    for i, (nid, oid, version, topic, state) in enumerate(rows):
        recorded = old[nid].recorded_at_us if nid in old else 0
        oid_value = uuid.UUID(oid) if len(oid) == 32 else oid
        leaf_input = (leaf_prefix(nid, encode_originator_id(oid_value), version, topic)
                      + struct.pack(">Q", recorded) + hashlib.sha256(state).digest())
        conn.execute("INSERT INTO audit_leaf VALUES (?,?,?)", (i, nid, leaf_input))
        for level, index, h in f.append(merkle.leaf_hash(leaf_input)):
            conn.execute("INSERT INTO audit_node VALUES (?,?)", (merkle.node_key(level, index), h))
    conn.commit()
