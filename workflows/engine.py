"""The cobuild engine: one application, its commands grouped by aggregate."""
from __future__ import annotations

from workflows.store.clock import Clock
from workflows.commitments import CommitmentCommands
from workflows.store.settings import Settings
from workflows.evaluations import EvaluationCommands
from workflows.store.evidence import EvidenceStore
from workflows.store.schema import ensure_schema
from workflows.followups import FollowUpCommands
from workflows.organisations import OrganisationCommands, UserCommands
from workflows.pairings import PairingCommands
from workflows.rulesets import RuleCommands
from workflows.tasks import TaskCommands


class Engine(TaskCommands, CommitmentCommands, PairingCommands, OrganisationCommands, UserCommands,
             FollowUpCommands, RuleCommands, EvaluationCommands):
    """Commands are methods: ``engine.accept_pairing(actor, pairing_id)``."""


def open_engine(settings: Settings | None = None, clock: Clock | None = None) -> Engine:
    settings = settings or Settings.from_env()
    settings.ensure_home()
    engine = Engine(env=ensure_schema(settings).eventsourcing_env(), clock=clock)
    engine.evidence_store = EvidenceStore(settings)
    return engine
