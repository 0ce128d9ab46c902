"""公开承诺: a public commitment one side of a pairing makes to the other, and its fulfilment.

Made by either party of a pairing (``made_by``: giver or receiver) for the other, the
beneficiary. The maker publicises it, reports progress, claims fulfilment or abandons it;
the beneficiary confirms or disputes the claim. The maker can never confirm its own
fulfilment, not even by entering data on the beneficiary's behalf. The workflow marks it
overdue; an evaluation (评诺) closes it.

```
CommitmentMade ─► draft ─CommitmentPublicised─► public
public ─ProgressReported / DeadlineExtended─► public
public ─CommitmentOverdue (workflow)─► overdue
public/overdue ─FulfilmentClaimed─► claimed ─FulfilmentConfirmed─► fulfilled
claimed ─FulfilmentDisputed─► the state it was claimed from (public or overdue)
public/overdue ─CommitmentAbandoned─► not_fulfilled
fulfilled/not_fulfilled ─CommitmentEvaluated─► evaluated (final)
```
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.checks import (
    check_bool, check_date, check_not_earlier,
    check_optional_text, check_quantity, check_reason, check_sha256, check_text, check_uuid,
    check_yuan, refuse_cross_side_representation, require_not_before,
)
from domain.errors import InvalidValue, NotPermitted

CATEGORIES = ("funds", "talent", "information", "technology", "practical_matter", "org_life",
              "project", "other")
SIDES = ("giver", "receiver")
OUTCOMES = ("kept", "partial", "broken")

STATES = ("draft", "public", "overdue", "claimed", "fulfilled", "not_fulfilled", "evaluated")
FINAL_STATES = ("evaluated",)

class PublicCommitment(CobuildAggregate):
    subject = "commitment"

    @classmethod
    def make(
        cls, by: Attribution, pairing_id: UUID, giver_id: UUID, receiver_id: UUID,
        made_by: str, category: str, content: str, due_on: date,
        quantity: Decimal | None = None, unit: str | None = None,
        amount_yuan: Decimal | None = None,
    ) -> "PublicCommitment":
        check_uuid("pairing_id", pairing_id)
        check_uuid("giver_id", giver_id)
        check_uuid("receiver_id", receiver_id)
        if giver_id == receiver_id:
            raise InvalidValue("receiver_id", "giver and receiver must be different organisations")
        if made_by not in SIDES:
            raise InvalidValue("made_by", "must be giver or receiver")
        maker_id = giver_id if made_by == "giver" else receiver_id
        refuse_cross_side_representation(by, giver_id, receiver_id)
        if by.organisation_id != maker_id:
            raise NotPermitted("maker-only", f"a commitment made by the {made_by} is made by that "
                                             "organisation only")
        if category not in CATEGORIES:
            raise InvalidValue("category", f"must be one of {', '.join(CATEGORIES)}")
        content = check_text("content", content, 2000)
        check_date("due_on", due_on)
        check_not_earlier("due_on", due_on, by.occurred_at.date(), "day the commitment is made")
        if quantity is not None or unit is not None:
            if quantity is None:
                raise InvalidValue("quantity", "a unit needs a quantity")
            if unit is None:
                raise InvalidValue("unit", "a quantity needs a unit")
            quantity = check_quantity("quantity", quantity, positive=True)
            unit = check_text("unit", unit, 20)
        if amount_yuan is not None:
            amount_yuan = check_yuan("amount_yuan", amount_yuan, positive=True)
        if quantity is None and amount_yuan is None:
            raise InvalidValue("quantity", "a measurable target is required: quantity and unit, "
                                           "or an amount in yuan")
        return cls(
            pairing_id=pairing_id, giver_id=giver_id, receiver_id=receiver_id, made_by=made_by,
            category=category, content=content, due_on=due_on, quantity=quantity, unit=unit,
            amount_yuan=amount_yuan, **by.fields(),
        )

    @event("CommitmentMade")
    def __init__(
        self, pairing_id: UUID, giver_id: UUID, receiver_id: UUID, made_by: str, category: str,
        content: str, due_on: date, quantity: Decimal | None, unit: str | None,
        amount_yuan: Decimal | None,
        actor: dict[str, Any], on_behalf_of: UUID | None, occurred_at: datetime,
    ) -> None:
        self.pairing_id = pairing_id
        self.giver_id = giver_id
        self.receiver_id = receiver_id
        self.made_by = made_by
        self.maker_id = giver_id if made_by == "giver" else receiver_id
        self.beneficiary_id = receiver_id if made_by == "giver" else giver_id
        self.category = category
        self.content = content
        self.quantity = quantity
        self.unit = unit
        self.amount_yuan = amount_yuan
        self.made_at = occurred_at
        self.due_on = due_on
        self.original_due_on = due_on
        self.extensions = 0
        self.publicised_on: date | None = None
        self.publicity_channel: str | None = None
        self.progress_reports = 0
        self.last_progress_at: datetime | None = None
        self.achieved_quantity: Decimal | None = None
        self.achieved_amount_yuan: Decimal | None = None
        self.was_overdue = False
        self.marked_overdue_on: date | None = None
        self.claims = 0
        self.claimed_at: datetime | None = None
        self.claimed_from: str | None = None
        self.claim_note: str | None = None
        self.claim_evidence_sha256: str | None = None
        self.disputes = 0
        self.last_dispute_reason: str | None = None
        self.fulfilled_at: datetime | None = None
        self.confirmed_by: dict[str, Any] | None = None
        self.abandoned_at: datetime | None = None
        self.abandon_reason: str | None = None
        self.explained_to_public: bool | None = None
        self.outcome: str | None = None
        self.evaluation_reason: str | None = None
        self.evaluated_at: datetime | None = None
        self.state = "draft"

    # -- sides -------------------------------------------------------------------------------

    def _require_maker(self, by: Attribution, command: str) -> None:
        refuse_cross_side_representation(by, self.maker_id, self.beneficiary_id)
        if by.organisation_id != self.maker_id:
            raise NotPermitted("maker-only", f"only the maker ({self.made_by}) may {command}")

    def _require_beneficiary(self, by: Attribution, command: str) -> None:
        refuse_cross_side_representation(by, self.maker_id, self.beneficiary_id)
        if by.organisation_id != self.beneficiary_id:
            raise NotPermitted("beneficiary-only", f"only the beneficiary may {command}")

    # -- the maker's side --------------------------------------------------------------------

    def publicise(self, by: Attribution, channel: str, publicised_on: date) -> None:
        self.require_state("publicise", "draft")
        self._require_maker(by, "publicise")
        channel = check_text("channel", channel, 100)
        check_date("publicised_on", publicised_on)
        check_not_earlier("publicised_on", publicised_on, self.made_at.date(),
                          "day the commitment was made")
        self._publicised(channel=channel, publicised_on=publicised_on, **by.fields())

    @event("CommitmentPublicised")
    def _publicised(self, channel: str, publicised_on: date, actor: dict[str, Any],
                    on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.publicity_channel = channel
        self.publicised_on = publicised_on
        self.state = "public"

    def report_progress(
        self, by: Attribution, note: str, quantity: Decimal | None = None,
        amount_yuan: Decimal | None = None, evidence_sha256: str | None = None,
    ) -> None:
        """Progress so far: ``quantity``/``amount_yuan`` are what has been achieved to date."""
        self.require_state("report progress", "public")
        self._require_maker(by, "report progress")
        note = check_text("note", note, 2000)
        if quantity is not None:
            if self.quantity is None:
                raise InvalidValue("quantity", "this commitment has no quantity target")
            quantity = check_quantity("quantity", quantity)
        if amount_yuan is not None:
            if self.amount_yuan is None:
                raise InvalidValue("amount_yuan", "this commitment has no amount target")
            amount_yuan = check_yuan("amount_yuan", amount_yuan)
        self._progress_reported(
            note=note, quantity=quantity, amount_yuan=amount_yuan,
            evidence_sha256=check_sha256("evidence_sha256", evidence_sha256), **by.fields(),
        )

    @event("ProgressReported")
    def _progress_reported(self, note: str, quantity: Decimal | None, amount_yuan: Decimal | None,
                           evidence_sha256: str | None, actor: dict[str, Any],
                           on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.progress_reports += 1
        self.last_progress_at = occurred_at
        if quantity is not None:
            self.achieved_quantity = quantity
        if amount_yuan is not None:
            self.achieved_amount_yuan = amount_yuan

    def extend_deadline(self, by: Attribution, new_due_on: date, reason: str) -> None:
        self.require_state("extend the deadline", "public")
        self._require_maker(by, "extend the deadline")
        check_date("new_due_on", new_due_on)
        if new_due_on <= self.due_on:
            raise InvalidValue("new_due_on", f"must be later than the current due date "
                                             f"({self.due_on.isoformat()})")
        self._deadline_extended(previous_due_on=self.due_on, new_due_on=new_due_on,
                                reason=check_reason(reason), **by.fields())

    @event("DeadlineExtended")
    def _deadline_extended(self, previous_due_on: date, new_due_on: date, reason: str,
                           actor: dict[str, Any], on_behalf_of: UUID | None,
                           occurred_at: datetime) -> None:
        self.due_on = new_due_on
        self.extensions += 1

    def claim_fulfilment(self, by: Attribution, note: str | None = None,
                         evidence_sha256: str | None = None) -> None:
        self.require_state("claim fulfilment", "public", "overdue")
        self._require_maker(by, "claim fulfilment")
        check_not_earlier("occurred_at", by.occurred_at, self.made_at, "commitment")
        self._fulfilment_claimed(
            note=check_optional_text("note", note, 2000),
            evidence_sha256=check_sha256("evidence_sha256", evidence_sha256), **by.fields(),
        )

    @event("FulfilmentClaimed")
    def _fulfilment_claimed(self, note: str | None, evidence_sha256: str | None,
                            actor: dict[str, Any], on_behalf_of: UUID | None,
                            occurred_at: datetime) -> None:
        self.claims += 1
        self.claimed_from = self.state
        self.claimed_at = occurred_at
        self.claim_note = note
        self.claim_evidence_sha256 = evidence_sha256
        self.state = "claimed"

    def abandon(self, by: Attribution, reason: str, explained_to_public: bool) -> None:
        self.require_state("abandon", "public", "overdue")
        self._require_maker(by, "abandon the commitment")
        reason = check_reason(reason)
        check_bool("explained_to_public", explained_to_public)
        self._abandoned(reason=reason, explained_to_public=explained_to_public, **by.fields())

    @event("CommitmentAbandoned")
    def _abandoned(self, reason: str, explained_to_public: bool, actor: dict[str, Any],
                   on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.abandoned_at = occurred_at
        self.abandon_reason = reason
        self.explained_to_public = explained_to_public
        self.state = "not_fulfilled"

    # -- the beneficiary's side --------------------------------------------------------------

    def confirm_fulfilment(self, by: Attribution) -> None:
        self.require_state("confirm fulfilment", "claimed")
        if self.maker_id in (by.organisation_id, by.actor.organisation_id):
            raise NotPermitted("own-confirmation",
                               "the maker can never confirm its own fulfilment")
        self._require_beneficiary(by, "confirm fulfilment")
        require_not_before("occurred_at", by.occurred_at, self.claimed_at, "fulfilment claim")
        self._fulfilment_confirmed(**by.fields())

    @event("FulfilmentConfirmed")
    def _fulfilment_confirmed(self, actor: dict[str, Any], on_behalf_of: UUID | None,
                              occurred_at: datetime) -> None:
        self.fulfilled_at = occurred_at
        self.confirmed_by = actor
        self.state = "fulfilled"

    def dispute_fulfilment(self, by: Attribution, reason: str) -> None:
        self.require_state("dispute fulfilment", "claimed")
        self._require_beneficiary(by, "dispute fulfilment")
        reason = check_reason(reason)
        require_not_before("occurred_at", by.occurred_at, self.claimed_at, "fulfilment claim")
        assert self.claimed_from is not None  # set by the claim that made the state "claimed"
        self._fulfilment_disputed(reason=reason, back_to=self.claimed_from, **by.fields())

    @event("FulfilmentDisputed")
    def _fulfilment_disputed(self, reason: str, back_to: str, actor: dict[str, Any],
                             on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.disputes += 1
        self.last_dispute_reason = reason
        self.claimed_at = None
        self.claimed_from = None
        self.claim_note = None
        self.claim_evidence_sha256 = None
        self.state = back_to

    # -- the workflow and the evaluators -----------------------------------------------------

    def mark_overdue(self, by: Attribution, today: date) -> None:
        """The workflow's due-date timer: only once the due date has passed."""
        self.require_state("mark overdue", "public")
        check_date("today", today)
        if today <= self.due_on:
            raise InvalidValue("today", f"the commitment is not overdue until after "
                                        f"{self.due_on.isoformat()}")
        self._overdue(due_on=self.due_on, detected_on=today, **by.fields())

    @event("CommitmentOverdue")
    def _overdue(self, due_on: date, detected_on: date, actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.was_overdue = True
        self.marked_overdue_on = detected_on
        self.state = "overdue"

    def evaluate(self, by: Attribution, outcome: str, reason: str | None = None) -> None:
        """评诺. Role checks (evaluator, supervisor) are the engine's; the maker never rates
        itself, and a commitment abandoned (not fulfilled) is never rated kept."""
        self.require_state("evaluate", "fulfilled", "not_fulfilled")
        refuse_cross_side_representation(by, self.maker_id, self.beneficiary_id)
        if self.maker_id in (by.organisation_id, by.actor.organisation_id):
            raise NotPermitted("own-evaluation", "the maker cannot evaluate its own commitment")
        if outcome not in OUTCOMES:
            raise InvalidValue("outcome", f"must be one of {', '.join(OUTCOMES)}")
        if outcome == "kept" and self.state == "not_fulfilled":
            raise InvalidValue("outcome", "an abandoned commitment cannot be rated kept")
        if outcome == "kept":
            reason = check_optional_text("reason", reason, 2000)
        else:
            reason = check_reason(reason)
        check_not_earlier("occurred_at", by.occurred_at, self.fulfilled_at or self.abandoned_at,
                          "outcome it evaluates")
        self._evaluated(outcome=outcome, reason=reason, **by.fields())

    @event("CommitmentEvaluated")
    def _evaluated(self, outcome: str, reason: str | None, actor: dict[str, Any],
                   on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.outcome = outcome
        self.evaluation_reason = reason
        self.evaluated_at = occurred_at
        self.state = "evaluated"

    # -- derived -----------------------------------------------------------------------------

    @property
    def fulfilled_on_time(self) -> bool | None:
        """Fulfilled, and the accepted claim was made by the *original* due date.

        The claim date counts (a slow confirmation is not the maker's lateness); an extension
        does not make a late fulfilment punctual.
        """
        if self.fulfilled_at is None or self.claimed_at is None:
            return None
        return self.claimed_at.date() <= self.original_due_on

    def days_overdue(self, today: date) -> int:
        """How many days past the (possibly extended) due date, 0 if not past or settled."""
        if self.state not in ("public", "overdue", "claimed"):
            return 0
        return max(0, (today - self.due_on).days)
