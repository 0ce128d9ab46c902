"""Commands on public commitments (公开承诺 / 践诺 / 评诺)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from domain.base import Actor
from domain.commitment import PublicCommitment
from domain.errors import WrongState
from domain.pairing import Pairing
from workflows.authorisation import require_acting_for, require_region, require_role, require_system
from workflows.core import EngineCore, Outcome


class CommitmentCommands(EngineCore):
    def make_commitment(
        self, actor: Actor, pairing_id: UUID, made_by: str, category: str, content: str,
        due_on: date, quantity: Decimal | None = None, unit: str | None = None,
        amount_yuan: Decimal | None = None, occurred_at: datetime | None = None,
        on_behalf_of: UUID | None = None,
    ) -> Outcome:
        pairing = self.load(Pairing, pairing_id)
        self.require_visible(actor, pairing)
        by = self.attribution(actor, occurred_at, on_behalf_of)
        require_acting_for(actor, self.acting_for(by))
        if pairing.state != "in_force" or pairing.expired_on(self.today()):
            raise WrongState("pairing", "take a commitment",
                             "expired" if pairing.state == "in_force" else pairing.state)
        commitment = PublicCommitment.make(
            by, pairing.id, pairing.giver_id, pairing.receiver_id, made_by, category, content,
            due_on, quantity, unit, amount_yuan)
        return self.commit(commitment)

    def publicise_commitment(self, actor: Actor, commitment_id: UUID, channel: str,
                             publicised_on: date, on_behalf_of: UUID | None = None,
                             expected_version: int | None = None) -> Outcome:
        commitment, by = self.load_as_party(
            actor, PublicCommitment, commitment_id, expected_version, None, on_behalf_of)
        commitment.publicise(by, channel, publicised_on)
        return self.commit(commitment)

    def report_commitment_progress(
        self, actor: Actor, commitment_id: UUID, note: str, quantity: Decimal | None = None,
        amount_yuan: Decimal | None = None, occurred_at: datetime | None = None,
        on_behalf_of: UUID | None = None, expected_version: int | None = None,
    ) -> Outcome:
        commitment, by = self.load_as_party(
            actor, PublicCommitment, commitment_id, expected_version, occurred_at, on_behalf_of)
        commitment.report_progress(by, note, quantity=quantity, amount_yuan=amount_yuan)
        return self.commit(commitment)

    def extend_commitment_deadline(self, actor: Actor, commitment_id: UUID, new_due_on: date,
                                   reason: str, on_behalf_of: UUID | None = None,
                                   expected_version: int | None = None) -> Outcome:
        commitment, by = self.load_as_party(
            actor, PublicCommitment, commitment_id, expected_version, None, on_behalf_of)
        commitment.extend_deadline(by, new_due_on, reason)
        return self.commit(commitment)

    def claim_fulfilment(self, actor: Actor, commitment_id: UUID, note: str | None = None,
                         evidence_sha256: str | None = None, occurred_at: datetime | None = None,
                         on_behalf_of: UUID | None = None,
                         expected_version: int | None = None) -> Outcome:
        commitment, by = self.load_as_party(
            actor, PublicCommitment, commitment_id, expected_version, occurred_at, on_behalf_of)
        commitment.claim_fulfilment(by, note=note, evidence_sha256=evidence_sha256)
        return self.commit(commitment)

    def confirm_fulfilment(self, actor: Actor, commitment_id: UUID,
                           occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                           expected_version: int | None = None) -> Outcome:
        commitment, by = self.load_as_party(
            actor, PublicCommitment, commitment_id, expected_version, occurred_at, on_behalf_of)
        commitment.confirm_fulfilment(by)
        return self.commit(commitment)

    def dispute_fulfilment(self, actor: Actor, commitment_id: UUID, reason: str,
                           occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                           expected_version: int | None = None) -> Outcome:
        commitment, by = self.load_as_party(
            actor, PublicCommitment, commitment_id, expected_version, occurred_at, on_behalf_of)
        commitment.dispute_fulfilment(by, reason)
        return self.commit(commitment)

    def abandon_commitment(self, actor: Actor, commitment_id: UUID, reason: str,
                           explained_to_public: bool = False, occurred_at: datetime | None = None,
                           on_behalf_of: UUID | None = None,
                           expected_version: int | None = None) -> Outcome:
        commitment, by = self.load_as_party(
            actor, PublicCommitment, commitment_id, expected_version, occurred_at, on_behalf_of)
        commitment.abandon(by, reason, explained_to_public)
        return self.commit(commitment)

    def evaluate_commitment(self, actor: Actor, commitment_id: UUID, outcome: str,
                            reason: str | None = None,
                            expected_version: int | None = None) -> Outcome:
        """评诺 is the organisation department's judgement, not a party's."""
        require_role(actor, "supervisor-evaluates-commitments", "admin", "supervisor")
        commitment = self.load(PublicCommitment, commitment_id, expected_version)
        require_region(actor, *self.parties(commitment))
        commitment.evaluate(self.attribution(actor), outcome, reason)
        return self.commit(commitment)

    def mark_commitment_overdue(self, actor: Actor, commitment_id: UUID) -> Outcome:
        require_system(actor)
        commitment = self.load(PublicCommitment, commitment_id)
        commitment.mark_overdue(self.attribution(actor), self.today())
        return self.commit(commitment)
