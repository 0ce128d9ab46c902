"""结对关系: one giving organisation paired with one village or community for a term.

A pairing comes into force once it is accepted and both sides have signed the agreement.
Activities live on the pairing; only those the other side co-signs count for follow-up and
evaluation.  Inactivity flags raised by the workflow are events here too, so the pairing's
history tells its whole life.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.checks import check_reason, check_sha256, check_text, require_not_before
from domain.errors import InvalidValue, NotPermitted

AREAS = ("organisation", "members", "resources", "activities", "talent", "industry",
         "culture", "governance", "other")
ACTIVITY_KINDS = ("joint_org_life", "visit", "training", "practical_matter", "meeting", "other")
SIDES = ("giver", "receiver")
LIVE_STATES = ("proposed", "accepted", "in_force", "suspended")
FINAL_STATES = ("declined", "terminated", "expired")
class Pairing(CobuildAggregate):
    subject = "pairing"

    @classmethod
    def propose(
        cls, by: Attribution, giver_id: UUID, receiver_id: UUID, term_start: date,
        term_end: date, areas: list[str] | tuple[str, ...] = (),
    ) -> "Pairing":
        """Proposed by the giving side (or assigned by the organisation department)."""
        if giver_id == receiver_id:
            raise InvalidValue("receiver_id", "an organisation cannot pair with itself")
        if term_end <= term_start:
            raise InvalidValue("term_end", "must be after term_start")
        unknown = [a for a in areas if a not in AREAS]
        if unknown:
            raise InvalidValue("areas", f"unknown area {unknown[0]!r}; use {', '.join(AREAS)}")
        if by.organisation_id not in (None, giver_id):
            raise NotPermitted("giver-proposes", "only the giving organisation proposes a pairing")
        return cls(
            giver_id=giver_id, receiver_id=receiver_id, term_start=term_start,
            term_end=term_end, areas=list(dict.fromkeys(areas)), **by.fields(),
        )

    @event("PairingProposed")
    def __init__(
        self, giver_id: UUID, receiver_id: UUID, term_start: date, term_end: date,
        areas: list[str], actor: dict[str, Any], on_behalf_of: UUID | None,
        occurred_at: datetime,
    ) -> None:
        self.giver_id = giver_id
        self.receiver_id = receiver_id
        self.term_start = term_start
        self.term_end = term_end
        self.areas = areas
        self.state = "proposed"
        self.proposed_at = occurred_at
        self.accepted_at: datetime | None = None
        self.signed_on: dict[str, date] = {}
        self.in_force_since: date | None = None
        self.activities: dict[str, dict[str, Any]] = {}
        self.flags: dict[str, dict[str, Any]] = {}

    # -- who is acting ---------------------------------------------------------------------

    def side_of(self, organisation_id: UUID | None) -> str | None:
        if organisation_id == self.giver_id:
            return "giver"
        if organisation_id == self.receiver_id:
            return "receiver"
        return None

    def _require_side(self, by: Attribution, side: str, rule: str) -> None:
        if self.side_of(by.organisation_id) != side:
            raise NotPermitted(rule, f"only the {side} side of the pairing may do this")

    def _require_party(self, by: Attribution) -> str:
        side = self.side_of(by.organisation_id)
        if side is None:
            raise NotPermitted("party-only", "only a party to the pairing may do this")
        return side

    # -- lifecycle ------------------------------------------------------------------------

    def accept(self, by: Attribution) -> None:
        self.require_state("accept", "proposed")
        self._require_side(by, "receiver", "receiver-accepts")
        require_not_before("occurred_at", by.occurred_at, self.proposed_at, "proposal")
        self._accepted(**by.fields())

    @event("PairingAccepted")
    def _accepted(self, actor: dict[str, Any], on_behalf_of: UUID | None,
                  occurred_at: datetime) -> None:
        self.state = "accepted"
        self.accepted_at = occurred_at

    def decline(self, by: Attribution, reason: str) -> None:
        self.require_state("decline", "proposed")
        self._require_side(by, "receiver", "receiver-declines")
        self._declined(reason=check_reason(reason), **by.fields())

    @event("PairingDeclined")
    def _declined(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                  occurred_at: datetime) -> None:
        self.state = "declined"

    def sign_agreement(self, by: Attribution, signed_on: date,
                       document_sha256: str | None = None) -> None:
        self.require_state("sign the agreement", "accepted")
        side = self._require_party(by)
        if side in self.signed_on:
            raise NotPermitted("sign-once", f"the {side} side has already signed")
        if self.accepted_at and signed_on < self.accepted_at.date():
            raise InvalidValue("signed_on", "is before the pairing was accepted")
        self._agreement_signed(
            side=side, signed_on=signed_on,
            document_sha256=check_sha256("document_sha256", document_sha256), **by.fields(),
        )

    @event("AgreementSigned")
    def _agreement_signed(self, side: str, signed_on: date, document_sha256: str | None,
                          actor: dict[str, Any], on_behalf_of: UUID | None,
                          occurred_at: datetime) -> None:
        self.signed_on[side] = signed_on
        if len(self.signed_on) == 2:
            self.state = "in_force"
            self.in_force_since = max(self.signed_on.values())

    def suspend(self, by: Attribution, reason: str) -> None:
        self.require_state("suspend", "in_force")
        self._suspended(reason=check_reason(reason), **by.fields())

    @event("PairingSuspended")
    def _suspended(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                   occurred_at: datetime) -> None:
        self.state = "suspended"

    def resume(self, by: Attribution) -> None:
        self.require_state("resume", "suspended")
        self._resumed(**by.fields())

    @event("PairingResumed")
    def _resumed(self, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.state = "in_force"

    def renew(self, by: Attribution, term_end: date) -> None:
        self.require_state("renew", "in_force")
        if term_end <= self.term_end:
            raise InvalidValue("term_end", f"must be after the current term end {self.term_end}")
        self._renewed(term_end=term_end, previous_term_end=self.term_end, **by.fields())

    @event("PairingRenewed")
    def _renewed(self, term_end: date, previous_term_end: date, actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.term_end = term_end

    def terminate(self, by: Attribution, reason: str) -> None:
        self.require_state("terminate", "in_force", "suspended")
        self._terminated(reason=check_reason(reason), **by.fields())

    @event("PairingTerminated")
    def _terminated(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                    occurred_at: datetime) -> None:
        self.state = "terminated"

    def end_term(self, by: Attribution, today: date) -> None:
        """The workflow records that the term has run out."""
        self.require_state("end the term", "in_force", "suspended")
        if today <= self.term_end:
            raise InvalidValue("today", f"the term runs until {self.term_end}")
        self._term_ended(term_end=self.term_end, **by.fields())

    @event("TermEnded")
    def _term_ended(self, term_end: date, actor: dict[str, Any], on_behalf_of: UUID | None,
                    occurred_at: datetime) -> None:
        self.state = "expired"

    def expired_on(self, today: date) -> bool:
        """A pairing whose term has passed is expired even before the workflow records it."""
        return self.state == "expired" or (self.state in LIVE_STATES and today > self.term_end)

    # -- activities -------------------------------------------------------------------------

    def record_activity(
        self, by: Attribution, activity_id: str, kind: str, title: str,
        participants: dict[str, int] | None = None, evidence_sha256: str | None = None,
    ) -> None:
        self.require_state("record an activity", "in_force")
        side = self._require_party(by)
        if kind not in ACTIVITY_KINDS:
            raise InvalidValue("kind", f"must be one of {', '.join(ACTIVITY_KINDS)}")
        if activity_id in self.activities:
            raise InvalidValue("activity_id", "is already recorded on this pairing")
        counts = dict(participants or {})
        for key, value in counts.items():
            if key not in ("giver", "receiver", "masses"):
                raise InvalidValue("participants", f"unknown group {key!r}")
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100000:
                raise InvalidValue("participants", f"{key} must be a whole number from 0")
        self._activity_recorded(
            activity_id=activity_id, kind=kind, title=check_text("title", title, 200),
            recorded_by=side, participants=counts,
            evidence_sha256=check_sha256("evidence_sha256", evidence_sha256), **by.fields(),
        )

    @event("ActivityRecorded")
    def _activity_recorded(
        self, activity_id: str, kind: str, title: str, recorded_by: str,
        participants: dict[str, int], evidence_sha256: str | None, actor: dict[str, Any],
        on_behalf_of: UUID | None, occurred_at: datetime,
    ) -> None:
        self.activities[activity_id] = {
            "kind": kind, "title": title, "recorded_by": recorded_by,
            "occurred_at": occurred_at, "status": "recorded", "participants": participants,
        }

    def _pending_activity(self, by: Attribution, activity_id: str, command: str) -> dict[str, Any]:
        activity = self.activities.get(activity_id)
        if activity is None:
            raise InvalidValue("activity_id", "no such activity on this pairing")
        if activity["status"] != "recorded":
            raise NotPermitted("activity-answered-once",
                               f"the activity is already {activity['status']}: cannot {command}")
        side = self._require_party(by)
        if side == activity["recorded_by"]:
            raise NotPermitted("other-side-cosigns", "only the other side may co-sign or contest an activity")
        return activity

    def cosign_activity(self, by: Attribution, activity_id: str) -> None:
        activity = self._pending_activity(by, activity_id, "co-sign")
        require_not_before("occurred_at", by.occurred_at, activity["occurred_at"], "activity")
        self._activity_cosigned(activity_id=activity_id, **by.fields())

    @event("ActivityCoSigned")
    def _activity_cosigned(self, activity_id: str, actor: dict[str, Any],
                           on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.activities[activity_id]["status"] = "cosigned"

    def contest_activity(self, by: Attribution, activity_id: str, reason: str) -> None:
        self._pending_activity(by, activity_id, "contest")
        self._activity_contested(activity_id=activity_id, reason=check_reason(reason),
                                 **by.fields())

    @event("ActivityContested")
    def _activity_contested(self, activity_id: str, reason: str, actor: dict[str, Any],
                            on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.activities[activity_id]["status"] = "contested"

    # -- inactivity flags (raised and cleared by the workflow) -------------------------------

    def flag_inactivity(self, by: Attribution, rule: str, measured: dict[str, Any],
                        severity: str = "warning") -> None:
        self.require_state("flag inactivity", "in_force")
        if rule in self.flags:
            raise NotPermitted("flag-once", f"rule {rule} is already flagged")
        self._inactivity_flagged(rule=rule, measured=measured, severity=severity, **by.fields())

    @event("InactivityFlagged")
    def _inactivity_flagged(self, rule: str, measured: dict[str, Any], severity: str,
                            actor: dict[str, Any], on_behalf_of: UUID | None,
                            occurred_at: datetime) -> None:
        self.flags[rule] = {"measured": measured, "severity": severity, "since": occurred_at}

    def clear_inactivity(self, by: Attribution, rule: str) -> None:
        if rule not in self.flags:
            raise NotPermitted("clear-flagged-only", f"rule {rule} is not flagged")
        self._inactivity_cleared(rule=rule, **by.fields())

    @event("InactivityCleared")
    def _inactivity_cleared(self, rule: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                            occurred_at: datetime) -> None:
        del self.flags[rule]


class PairingSlot(CobuildAggregate):
    """The one live pairing between two organisations.

    Saved together with the pairing it names, so two concurrent proposals for the same
    two organisations collide on this aggregate's version and one of them is refused.
    """

    subject = "pairing slot"

    @staticmethod
    def create_id(giver_id: UUID, receiver_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"/cobuild/pairing-slots/{giver_id}/{receiver_id}")

    @event("PairingSlotOpened")
    def __init__(self, giver_id: UUID, receiver_id: UUID) -> None:
        self.giver_id = giver_id
        self.receiver_id = receiver_id
        self.pairing_id: UUID | None = None
        self.state = "free"

    def take(self, by: Attribution, pairing_id: UUID) -> None:
        self._taken(pairing_id=pairing_id, **by.fields())

    @event("PairingSlotTaken")
    def _taken(self, pairing_id: UUID, actor: dict[str, Any], on_behalf_of: UUID | None,
               occurred_at: datetime) -> None:
        self.pairing_id = pairing_id
        self.state = "taken"
