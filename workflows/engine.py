"""The cobuild engine: one application, its commands grouped by aggregate."""
from __future__ import annotations

from workflows.audit.recorder import AuditedRecorder
from workflows.store.clock import Clock, clock_of
from workflows.commitments import CommitmentCommands
from workflows.store.settings import Settings
from workflows.evaluations import EvaluationCommands
from workflows.store.evidence import EvidenceStore
from workflows.store import schema
from workflows.store.schema import ensure_schema
from workflows.followups import FollowUpCommands
from workflows.organisations import OrganisationCommands, UserCommands
from workflows.pairings import PairingCommands
from workflows.regions import RegionCommands
from workflows.rulesets import RuleCommands
from workflows.tasks import TaskCommands


class Engine(TaskCommands, CommitmentCommands, PairingCommands, OrganisationCommands, UserCommands,
             FollowUpCommands, RuleCommands, EvaluationCommands, RegionCommands):
    """Commands are methods: ``engine.accept_pairing(actor, pairing_id)``."""

    # eventsourcing names the PostgreSQL events table after the application
    # (``engine_events``, ``workflows.audit.recorder.POSTGRES_EVENTS_TABLE``): never rename.
    name = "Engine"


def open_engine(settings: Settings, clock: Clock | None = None) -> Engine:
    """The engine on the store ``settings`` name, its schema created or checked first."""
    settings.ensure_home()
    engine = Engine(env=ensure_schema(settings).eventsourcing_env(),
                    clock=clock or clock_of(settings.clock_file))
    engine.evidence_store = EvidenceStore(settings)
    return engine


# -- the engine's own stores -------------------------------------------------------------

@schema.step("events", 1, "event store and snapshots of the Cobuild application")
def _event_store(settings: Settings) -> None:
    Engine(env=settings.eventsourcing_env()).close()


# -- the verifiable log ------------------------------------------------------------------

@schema.step("audit", 1, "Merkle log tables (audit_leaf, audit_node, audit_checkpoint) and leaves for earlier events")
def _audit_log(settings: Settings) -> None:
    # Constructing the engine with CREATE_TABLE=y creates the audit tables through its
    # audited recorder, on either database.  A PostgreSQL store that was written before
    # the recorder was audited then gets leaves for its events, in notification order.
    engine = Engine(env=settings.eventsourcing_env())
    try:
        if settings.is_postgres:
            import psycopg

            from workflows.audit.recorder_postgres import backfill  # only with psycopg installed

            recorder = engine.recorder
            assert isinstance(recorder, AuditedRecorder)  # workflows.audit.wiring
            with psycopg.connect(settings.database_url, autocommit=True) as conn:
                backfill(conn, recorder.audit_sql)
    finally:
        engine.close()
