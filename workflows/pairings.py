"""Commands on pairings and their activities."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from domain.base import Actor, Attribution
from domain.errors import Duplicate, InvalidValue, WrongState
from domain.organisation import Organisation
from domain.pairing import LIVE_STATES, Pairing, PairingSlot
from workflows.authorisation import (
    require_acting_for, require_region, require_role, require_system,
)
from workflows.core import EngineCore, Outcome
from workflows.errors import Forbidden


class PairingCommands(EngineCore):
    def propose_pairing(
        self, actor: Actor, giver_id: UUID, receiver_id: UUID, term_start: date,
        term_end: date, areas: list[str] | tuple[str, ...] = (),
        occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
    ) -> Outcome:
        require_role(actor, "agency-or-admin-proposes", "agency", "admin", "supervisor")
        by = self.attribution(actor, occurred_at, on_behalf_of)
        giver = self.load(Organisation, giver_id)
        receiver = self.load(Organisation, receiver_id)
        if not giver.gives:
            raise InvalidValue("giver_id", f"{giver.name} is a {giver.kind}: only giving organisations give")
        if not receiver.receives:
            raise InvalidValue("receiver_id", f"{receiver.name} is a {receiver.kind}: "
                                              "a giving organisation never receives")
        for org in (giver, receiver):
            if org.state != "active":
                raise WrongState("organisation", "be paired", org.state)
        if actor.role == "agency" or by.on_behalf_of is not None:
            require_acting_for(actor, self.acting_for(by))
            if by.organisation_id != giver_id:
                raise Forbidden("own-organisation", "a pairing is proposed for your own organisation as the giver")
        else:
            require_region(actor, self.organisation_facts(giver_id), self.organisation_facts(receiver_id))
        pairing = Pairing.propose(by, giver_id, receiver_id, term_start, term_end, areas)
        slot = self._slot(giver_id, receiver_id)
        if slot.pairing_id is not None:
            holder = self.load(Pairing, slot.pairing_id)
            if holder.state in LIVE_STATES and not holder.expired_on(self.today()):
                raise Duplicate(
                    f"a pairing between these organisations is already {holder.state} "
                    f"({holder.id})", pairing_id=str(holder.id))
        slot.take(by, pairing.id)
        return self.commit(pairing, slot)

    def _slot(self, giver_id: UUID, receiver_id: UUID) -> PairingSlot:
        slot_id = PairingSlot.create_id(giver_id, receiver_id)
        if self.exists(slot_id):
            return self.load(PairingSlot, slot_id)
        return PairingSlot(giver_id=giver_id, receiver_id=receiver_id)

    def pairing_in_force_between(self, giver_id: UUID, receiver_id: UUID) -> Pairing | None:
        slot_id = PairingSlot.create_id(giver_id, receiver_id)
        if not self.exists(slot_id):
            return None
        slot = self.load(PairingSlot, slot_id)
        pairing = self.load(Pairing, slot.pairing_id) if slot.pairing_id else None
        if pairing is None or pairing.state != "in_force" or pairing.expired_on(self.today()):
            return None
        return pairing

    # -- acts of a party -----------------------------------------------------------------

    def accept_pairing(self, actor: Actor, pairing_id: UUID, occurred_at: datetime | None = None,
                       on_behalf_of: UUID | None = None,
                       expected_version: int | None = None) -> Outcome:
        pairing, by = self.load_as_party(
            actor, Pairing, pairing_id, expected_version, occurred_at, on_behalf_of)
        pairing.accept(by)
        return self.commit(pairing)

    def decline_pairing(self, actor: Actor, pairing_id: UUID, reason: str,
                        occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                        expected_version: int | None = None) -> Outcome:
        pairing, by = self.load_as_party(
            actor, Pairing, pairing_id, expected_version, occurred_at, on_behalf_of)
        pairing.decline(by, reason)
        return self.commit(pairing)

    def sign_agreement(self, actor: Actor, pairing_id: UUID, signed_on: date,
                       document_sha256: str | None = None, on_behalf_of: UUID | None = None,
                       expected_version: int | None = None) -> Outcome:
        pairing, by = self.load_as_party(
            actor, Pairing, pairing_id, expected_version, None, on_behalf_of)
        if signed_on > self.today():
            raise InvalidValue("signed_on", "is in the future")
        pairing.sign_agreement(by, signed_on, document_sha256)
        return self.commit(pairing)

    def record_activity(self, actor: Actor, pairing_id: UUID, kind: str, title: str,
                        occurred_at: datetime, participants: dict[str, int] | None = None,
                        evidence_sha256: str | None = None, on_behalf_of: UUID | None = None,
                        expected_version: int | None = None) -> Outcome:
        pairing, by = self.load_as_party(
            actor, Pairing, pairing_id, expected_version, occurred_at, on_behalf_of)
        activity_id = uuid4().hex
        pairing.record_activity(by, activity_id, kind, title, participants, evidence_sha256)
        return self.commit(pairing, activity_id=activity_id)

    def cosign_activity(self, actor: Actor, pairing_id: UUID, activity_id: str,
                        occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                        expected_version: int | None = None) -> Outcome:
        pairing, by = self.load_as_party(
            actor, Pairing, pairing_id, expected_version, occurred_at, on_behalf_of)
        pairing.cosign_activity(by, activity_id)
        return self.commit(pairing, activity_id=activity_id)

    def contest_activity(self, actor: Actor, pairing_id: UUID, activity_id: str, reason: str,
                         occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                         expected_version: int | None = None) -> Outcome:
        pairing, by = self.load_as_party(
            actor, Pairing, pairing_id, expected_version, occurred_at, on_behalf_of)
        pairing.contest_activity(by, activity_id, reason)
        return self.commit(pairing, activity_id=activity_id)

    # -- acts of the organisation department ----------------------------------------------

    def _as_supervisor(self, actor: Actor, pairing_id: UUID, expected_version: int | None,
                       occurred_at: datetime | None) -> tuple[Pairing, Attribution]:
        require_role(actor, "supervisor-decides", "admin", "supervisor")
        pairing = self.load(Pairing, pairing_id, expected_version)
        require_region(actor, *self.parties(pairing))
        return pairing, self.attribution(actor, occurred_at)

    def suspend_pairing(self, actor: Actor, pairing_id: UUID, reason: str,
                        occurred_at: datetime | None = None,
                        expected_version: int | None = None) -> Outcome:
        pairing, by = self._as_supervisor(actor, pairing_id, expected_version, occurred_at)
        pairing.suspend(by, reason)
        return self.commit(pairing)

    def resume_pairing(self, actor: Actor, pairing_id: UUID, occurred_at: datetime | None = None,
                       expected_version: int | None = None) -> Outcome:
        pairing, by = self._as_supervisor(actor, pairing_id, expected_version, occurred_at)
        pairing.resume(by)
        return self.commit(pairing)

    def terminate_pairing(self, actor: Actor, pairing_id: UUID, reason: str,
                          occurred_at: datetime | None = None,
                          expected_version: int | None = None) -> Outcome:
        pairing, by = self._as_supervisor(actor, pairing_id, expected_version, occurred_at)
        pairing.terminate(by, reason)
        return self.commit(pairing)

    def renew_pairing(self, actor: Actor, pairing_id: UUID, term_end: date,
                      expected_version: int | None = None) -> Outcome:
        pairing, by = self._as_supervisor(actor, pairing_id, expected_version, None)
        pairing.renew(by, term_end)
        return self.commit(pairing)

    # -- acts of the workflow ---------------------------------------------------------------

    def flag_pairing_inactivity(self, actor: Actor, pairing_id: UUID, rule: str,
                                measured: dict[str, Any], severity: str = "warning") -> Outcome:
        require_system(actor)
        pairing = self.load(Pairing, pairing_id)
        pairing.flag_inactivity(self.attribution(actor), rule, measured, severity)
        return self.commit(pairing)

