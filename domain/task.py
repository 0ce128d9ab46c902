"""服务任务: the 三张清单 flow, need → claim → plan → delivery → confirmation → rating.

A receiving organisation (村/社区) raises a need; a giving organisation paired with it may
claim it while it is open; once the workflow pools it (the claim window passed) any giving
organisation may. The claimer plans and reports delivery; the receiver confirms or rejects
the delivery and rates satisfaction. Delivery and confirmation are two facts by two parties:
the deliverer never confirms its own delivery, not even by entering data on the receiver's
behalf, and the receiver never reports the giver's delivery.

```
NeedRaised ─► open ─TaskClaimed─► claimed ─ClaimWithdrawn─► open (or pooled, where claimed from)
open ─NeedPooled (workflow)─► pooled ─TaskClaimed─► claimed
claimed ─TaskPlanned─► planned ─DeliveryReported─► delivered
delivered ─DeliveryConfirmed─► confirmed      delivered ─DeliveryRejected─► planned
delivered ─ConfirmationOverdue (workflow)─► delivered (flagged once per delivery)
confirmed ─SatisfactionRated─► rated ─TaskClosed─► closed (final)
open/pooled/claimed/planned ─TaskCancelled─► cancelled (final)
```
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.checks import (
    require_not_before,
    check_bool, check_date, check_datetime, check_not_after, check_not_earlier,
    check_optional_text, check_reason, check_sha256, check_text, check_uuid, check_yuan,
    refuse_cross_side_representation,
)
from domain.errors import InvalidValue, NotPermitted

# 需求清单 categories (the design names none; these follow the documented local lists).
CATEGORIES = (
    "infrastructure", "industry", "education", "health", "elderly_care", "environment",
    "culture_sports", "skills_training", "legal", "employment", "collective_economy",
    "hardship_relief", "other",
)
LEVELS = ("satisfied", "basically_satisfied", "dissatisfied")

STATES = ("open", "pooled", "claimed", "planned", "delivered", "confirmed", "rated", "closed",
          "cancelled")
FINAL_STATES = ("closed", "cancelled")
CANCELLABLE = ("open", "pooled", "claimed", "planned")


def _check_window(field: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3660:
        raise InvalidValue(field, "must be a whole number of days between 1 and 3660")
    return value


class ServiceTask(CobuildAggregate):
    subject = "task"

    @classmethod
    def raise_need(
        cls, by: Attribution, receiver_id: UUID, category: str, title: str,
        details: str | None = None, wanted_by: date | None = None,
    ) -> "ServiceTask":
        check_uuid("receiver_id", receiver_id)
        if by.organisation_id != receiver_id:
            raise NotPermitted("receiver-only", "a need is raised by the receiving organisation")
        if category not in CATEGORIES:
            raise InvalidValue("category", f"must be one of {', '.join(CATEGORIES)}")
        title = check_text("title", title, 200)
        details = check_optional_text("details", details, 4000)
        if wanted_by is not None:
            check_date("wanted_by", wanted_by)
            check_not_earlier("wanted_by", wanted_by, by.occurred_at.date(),
                              "day the need is raised")
        return cls(receiver_id=receiver_id, category=category, title=title, details=details,
                   wanted_by=wanted_by, **by.fields())

    @event("NeedRaised")
    def __init__(
        self, receiver_id: UUID, category: str, title: str, details: str | None,
        wanted_by: date | None,
        actor: dict[str, Any], on_behalf_of: UUID | None, occurred_at: datetime,
    ) -> None:
        self.receiver_id = receiver_id
        self.category = category
        self.title = title
        self.details = details
        self.wanted_by = wanted_by
        self.raised_at = occurred_at
        self.pooled_on: date | None = None
        self.claimer_id: UUID | None = None
        self.claimed_at: datetime | None = None
        self.claimed_from: str | None = None
        self.claimed_by_partner: bool | None = None
        self.claims = 0
        self.withdrawn_claims = 0
        self.due_on: date | None = None
        self.budget_yuan: Decimal | None = None
        self.planned_at: datetime | None = None
        self.deliveries = 0
        self.delivered_at: datetime | None = None
        self.delivery_reported_at: datetime | None = None
        self.value_yuan: Decimal | None = None
        self.delivery_note: str | None = None
        self.evidence_sha256: str | None = None
        self.delivered_by: dict[str, Any] | None = None
        self.confirmation_overdue = False
        self.confirmation_overdue_on: date | None = None
        self.rejections = 0
        self.last_rejection_reason: str | None = None
        self.confirmed_at: datetime | None = None
        self.confirmed_by: dict[str, Any] | None = None
        self.satisfaction: str | None = None
        self.satisfaction_comment: str | None = None
        self.rated_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.cancelled_at: datetime | None = None
        self.cancelled_from: str | None = None
        self.cancel_reason: str | None = None
        self.state = "open"

    # -- sides -------------------------------------------------------------------------------

    def _require_receiver(self, by: Attribution, command: str) -> None:
        refuse_cross_side_representation(by, self.receiver_id, self.claimer_id)
        if by.organisation_id != self.receiver_id:
            raise NotPermitted("receiver-only", f"only the receiving organisation may {command}")

    def _require_claimer(self, by: Attribution, command: str) -> None:
        refuse_cross_side_representation(by, self.receiver_id, self.claimer_id)
        if by.organisation_id != self.claimer_id:
            raise NotPermitted("claimer-only", f"only the organisation that claimed the task "
                                               f"may {command}")

    # -- claiming ----------------------------------------------------------------------------

    def claim(self, by: Attribution, giver_id: UUID, paired_with_receiver: bool) -> None:
        """认领. The engine says whether ``giver_id`` is in a pairing in force with the receiver."""
        self.require_state("claim", "open", "pooled")
        check_uuid("giver_id", giver_id)
        if giver_id == self.receiver_id:
            raise NotPermitted("own-need", "the receiving organisation cannot claim its own need")
        refuse_cross_side_representation(by, self.receiver_id, giver_id)
        if by.organisation_id != giver_id:
            raise NotPermitted("claimer-only", "a giving organisation claims for itself only")
        check_bool("paired_with_receiver", paired_with_receiver)
        if self.state == "open" and not paired_with_receiver:
            raise NotPermitted("claim-window", "while the need is open only a giving organisation "
                                               "paired with the receiver may claim it")
        check_not_earlier("occurred_at", by.occurred_at, self.raised_at, "need")
        self._claimed(giver_id=giver_id, paired_with_receiver=paired_with_receiver,
                      **by.fields())

    @event("TaskClaimed")
    def _claimed(self, giver_id: UUID, paired_with_receiver: bool, actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.claims += 1
        self.claimer_id = giver_id
        self.claimed_by_partner = paired_with_receiver
        self.claimed_at = occurred_at
        self.claimed_from = self.state
        self.state = "claimed"

    def withdraw_claim(self, by: Attribution, reason: str) -> None:
        self.require_state("withdraw the claim", "claimed")
        self._require_claimer(by, "withdraw the claim")
        assert self.claimed_from is not None  # set by the claim that made the state "claimed"
        self._claim_withdrawn(reason=check_reason(reason), back_to=self.claimed_from,
                              **by.fields())

    @event("ClaimWithdrawn")
    def _claim_withdrawn(self, reason: str, back_to: str, actor: dict[str, Any],
                         on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.withdrawn_claims += 1
        self.claimer_id = None
        self.claimed_at = None
        self.claimed_from = None
        self.claimed_by_partner = None
        self.state = back_to

    def pool(self, by: Attribution, today: date, window_days: int | None = None) -> None:
        """流转领办大厅: the workflow pools an unclaimed need once the claim window passed.

        With ``window_days`` the domain checks the window itself (``today`` at least that many
        days after the day the need was raised); without it, the caller has checked.
        """
        self.require_state("pool", "open")
        check_date("today", today)
        raised_on = self.raised_at.date()
        check_not_earlier("today", today, raised_on, "day the need was raised")
        if window_days is not None:
            _check_window("window_days", window_days)
            if today < raised_on + timedelta(days=window_days):
                raise InvalidValue("today", f"the claim window of {window_days} days has not "
                                            f"passed since {raised_on.isoformat()}")
        self._pooled(pooled_on=today, **by.fields())

    @event("NeedPooled")
    def _pooled(self, pooled_on: date, actor: dict[str, Any], on_behalf_of: UUID | None,
                occurred_at: datetime) -> None:
        self.pooled_on = pooled_on
        self.state = "pooled"

    # -- the claimer's side ------------------------------------------------------------------

    def plan(self, by: Attribution, due_on: date, budget_yuan: Decimal | None = None) -> None:
        self.require_state("plan", "claimed")
        self._require_claimer(by, "plan the task")
        check_date("due_on", due_on)
        assert self.claimed_at is not None
        check_not_earlier("due_on", due_on, self.claimed_at.date(), "day the task was claimed")
        if budget_yuan is not None:
            budget_yuan = check_yuan("budget_yuan", budget_yuan)
        self._planned(due_on=due_on, budget_yuan=budget_yuan, **by.fields())

    @event("TaskPlanned")
    def _planned(self, due_on: date, budget_yuan: Decimal | None, actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.due_on = due_on
        self.budget_yuan = budget_yuan
        self.planned_at = occurred_at
        self.state = "planned"

    def report_delivery(
        self, by: Attribution, delivered_at: datetime, value_yuan: Decimal | None = None,
        note: str | None = None, evidence_sha256: str | None = None,
    ) -> None:
        self.require_state("report delivery", "planned")
        self._require_claimer(by, "report delivery")
        check_datetime("delivered_at", delivered_at)
        check_not_earlier("delivered_at", delivered_at, self.raised_at, "need")
        check_not_after("delivered_at", delivered_at, by.occurred_at, "report of the delivery")
        if value_yuan is not None:
            value_yuan = check_yuan("value_yuan", value_yuan)
        self._delivery_reported(
            delivered_at=delivered_at, value_yuan=value_yuan,
            note=check_optional_text("note", note, 2000),
            evidence_sha256=check_sha256("evidence_sha256", evidence_sha256), **by.fields(),
        )

    @event("DeliveryReported")
    def _delivery_reported(self, delivered_at: datetime, value_yuan: Decimal | None,
                           note: str | None, evidence_sha256: str | None, actor: dict[str, Any],
                           on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.deliveries += 1
        self.delivered_at = delivered_at
        self.delivery_reported_at = occurred_at
        self.value_yuan = value_yuan
        self.delivery_note = note
        self.evidence_sha256 = evidence_sha256
        self.delivered_by = actor
        self.confirmation_overdue = False
        self.confirmation_overdue_on = None
        self.state = "delivered"

    # -- the receiver's side -----------------------------------------------------------------

    _OWN_ACTS = {
        "confirm delivery": ("own-confirmation",
                             "the deliverer can never confirm its own delivery"),
        "reject delivery": ("own-confirmation", "the deliverer can never judge its own delivery"),
        "rate satisfaction": ("own-rating", "the deliverer can never rate its own delivery"),
    }

    def _require_confirmer(self, by: Attribution, command: str) -> None:
        """The receiver, and never anyone of the deliverer's own organisation."""
        if self.claimer_id in (by.organisation_id, by.actor.organisation_id):
            raise NotPermitted(*self._OWN_ACTS[command])
        self._require_receiver(by, command)

    def _require_after_delivery(self, by: Attribution) -> None:
        require_not_before("occurred_at", by.occurred_at, self.delivered_at, "delivery")
        require_not_before("occurred_at", by.occurred_at, self.delivery_reported_at,
                           "delivery report")

    def confirm_delivery(self, by: Attribution) -> None:
        self.require_state("confirm delivery", "delivered")
        self._require_confirmer(by, "confirm delivery")
        self._require_after_delivery(by)
        self._delivery_confirmed(**by.fields())

    @event("DeliveryConfirmed")
    def _delivery_confirmed(self, actor: dict[str, Any], on_behalf_of: UUID | None,
                            occurred_at: datetime) -> None:
        self.confirmed_at = occurred_at
        self.confirmed_by = actor
        self.state = "confirmed"

    def reject_delivery(self, by: Attribution, reason: str) -> None:
        self.require_state("reject delivery", "delivered")
        self._require_confirmer(by, "reject delivery")
        reason = check_reason(reason)
        self._require_after_delivery(by)
        self._delivery_rejected(reason=reason, **by.fields())

    @event("DeliveryRejected")
    def _delivery_rejected(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                           occurred_at: datetime) -> None:
        self.rejections += 1
        self.last_rejection_reason = reason
        self.delivered_at = None
        self.delivery_reported_at = None
        self.value_yuan = None
        self.delivery_note = None
        self.evidence_sha256 = None
        self.delivered_by = None
        self.confirmation_overdue = False
        self.confirmation_overdue_on = None
        self.state = "planned"

    def rate_satisfaction(self, by: Attribution, level: str, comment: str | None = None) -> None:
        self.require_state("rate satisfaction", "confirmed")
        self._require_confirmer(by, "rate satisfaction")
        if level not in LEVELS:
            raise InvalidValue("level", f"must be one of {', '.join(LEVELS)}")
        comment = check_optional_text("comment", comment, 2000)
        check_not_earlier("occurred_at", by.occurred_at, self.confirmed_at, "confirmation")
        self._satisfaction_rated(level=level, comment=comment, **by.fields())

    @event("SatisfactionRated")
    def _satisfaction_rated(self, level: str, comment: str | None, actor: dict[str, Any],
                            on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.satisfaction = level
        self.satisfaction_comment = comment
        self.rated_at = occurred_at
        self.state = "rated"

    def cancel(self, by: Attribution, reason: str) -> None:
        self.require_state("cancel", *CANCELLABLE)
        self._require_receiver(by, "cancel the task")
        self._cancelled(reason=check_reason(reason), cancelled_from=self.state, **by.fields())

    @event("TaskCancelled")
    def _cancelled(self, reason: str, cancelled_from: str, actor: dict[str, Any],
                   on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.cancel_reason = reason
        self.cancelled_from = cancelled_from
        self.cancelled_at = occurred_at
        self.state = "cancelled"

    # -- the workflow ------------------------------------------------------------------------

    def flag_confirmation_overdue(self, by: Attribution, today: date, window_days: int) -> None:
        """R9: the receiver has not confirmed or rejected within ``window_days`` of the report."""
        self.require_state("flag the confirmation overdue", "delivered")
        check_date("today", today)
        _check_window("window_days", window_days)
        if self.confirmation_overdue:
            raise NotPermitted("once-per-delivery",
                               "the confirmation of this delivery is already flagged overdue")
        assert self.delivery_reported_at is not None
        reported_on = self.delivery_reported_at.date()
        if today < reported_on + timedelta(days=window_days):
            raise InvalidValue("today", f"the confirmation window of {window_days} days has not "
                                        f"passed since {reported_on.isoformat()}")
        self._confirmation_overdue(detected_on=today, window_days=window_days,
                                   reported_on=reported_on, **by.fields())

    @event("ConfirmationOverdue")
    def _confirmation_overdue(self, detected_on: date, window_days: int, reported_on: date,
                              actor: dict[str, Any], on_behalf_of: UUID | None,
                              occurred_at: datetime) -> None:
        self.confirmation_overdue = True
        self.confirmation_overdue_on = detected_on

    def close(self, by: Attribution) -> None:
        """结项. Either party, or someone acting for no organisation (the workflow, a supervisor)."""
        self.require_state("close", "rated")
        refuse_cross_side_representation(by, self.receiver_id, self.claimer_id)
        if by.organisation_id not in (None, self.receiver_id, self.claimer_id):
            raise NotPermitted("party-only", "only a party to the task closes it")
        check_not_earlier("occurred_at", by.occurred_at, self.rated_at, "rating")
        self._closed(**by.fields())

    @event("TaskClosed")
    def _closed(self, actor: dict[str, Any], on_behalf_of: UUID | None,
                occurred_at: datetime) -> None:
        self.closed_at = occurred_at
        self.state = "closed"

    # -- derived -----------------------------------------------------------------------------

    @property
    def flagged(self) -> bool:
        """Delivered but its confirmation overdue (R9): a follow-up case is open on it."""
        return self.state == "delivered" and self.confirmation_overdue
