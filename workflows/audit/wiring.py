"""Which recorder writes the verifiable log: named by class, so a rename fails on import.

The engine (``workflows.core.EngineCore``) and the benchmarks that compare with it take
their event store settings through :func:`audited_env`.
"""
from __future__ import annotations

from typing import Mapping

from eventsourcing.utils import get_topic

from workflows.audit.recorder import AuditedSQLiteApplicationRecorder

TOPIC = "APPLICATION_RECORDER_TOPIC"


def audited_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the audited recorder of its database, unless it names a recorder itself:
    every event gets its Merkle leaf in the transaction that stores it."""
    out = dict(env)
    if TOPIC not in out:
        if out.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            # Imported here: it needs psycopg, which only the PostgreSQL extra installs.
            from workflows.audit.recorder_postgres import AuditedPostgresApplicationRecorder

            out[TOPIC] = get_topic(AuditedPostgresApplicationRecorder)
        else:
            out[TOPIC] = get_topic(AuditedSQLiteApplicationRecorder)
    return out
