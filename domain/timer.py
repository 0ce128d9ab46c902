"""Durable timers: a deadline recorded as events, so a restart loses none and fires none twice.

One timer per (subject, purpose), with an id derived from both, so scheduling the same
deadline twice is a no-op and every writer finds the same timer.  A timer can be re-armed
(a deadline extended, a delivery reported again); it fires at most once per arming, because
firing is only allowed while it is ``scheduled`` and is recorded in the same transaction as
whatever the firing did.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.checks import check_text
from domain.errors import InvalidValue

SUBJECT_TYPES = ("commitment", "task", "pairing", "evaluation")


def _require_aware(field: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValue(field, "must be a date and time with a UTC offset")
    return value


class Timer(CobuildAggregate):
    subject = "timer"

    @staticmethod
    def create_id(subject_id: UUID, purpose: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/cobuild/timers/{subject_id}/{purpose}")

    @classmethod
    def schedule(cls, by: Attribution, subject_type: str, subject_id: UUID, purpose: str,
                 due_at: datetime, details: dict[str, Any] | None = None) -> "Timer":
        if subject_type not in SUBJECT_TYPES:
            raise InvalidValue("subject_type", f"must be one of {', '.join(SUBJECT_TYPES)}")
        return cls(
            id=cls.create_id(subject_id, purpose), subject_type=subject_type,
            subject_id=subject_id, purpose=check_text("purpose", purpose, 100),
            due_at=_require_aware("due_at", due_at), details=dict(details or {}), **by.fields(),
        )

    @event("TimerScheduled")
    def __init__(self, id: UUID, subject_type: str, subject_id: UUID, purpose: str,
                 due_at: datetime, details: dict[str, Any], actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.subject_type = subject_type
        self.subject_id = subject_id
        self.purpose = purpose
        self.due_at = due_at
        self.details = details
        self.fired_at: datetime | None = None
        self.state = "scheduled"

    def wants(self, due_at: datetime, details: dict[str, Any]) -> bool:
        """Whether this timer already stands for that deadline (scheduled, or fired for it)."""
        return (self.state in ("scheduled", "fired") and self.due_at == due_at
                and self.details == details)

    def reschedule(self, by: Attribution, due_at: datetime,
                   details: dict[str, Any] | None = None) -> None:
        """Move a pending deadline, or re-arm a fired or cancelled one for a new deadline."""
        _require_aware("due_at", due_at)
        self._rescheduled(due_at=due_at, details=dict(details or {}), **by.fields())

    @event("TimerRescheduled")
    def _rescheduled(self, due_at: datetime, details: dict[str, Any], actor: dict[str, Any],
                     on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.due_at = due_at
        self.details = details
        self.fired_at = None
        self.state = "scheduled"

    def is_due(self, now: datetime) -> bool:
        return self.state == "scheduled" and self.due_at <= now

    def fire(self, by: Attribution, effect: str) -> None:
        """Record that the deadline was acted on; ``effect`` says what the firing did."""
        self.require_state("fire", "scheduled")
        if by.occurred_at < self.due_at:
            raise InvalidValue("occurred_at", f"the timer is not due until {self.due_at.isoformat()}")
        self._fired(due_at=self.due_at, effect=check_text("effect", effect, 200), **by.fields())

    @event("TimerFired")
    def _fired(self, due_at: datetime, effect: str, actor: dict[str, Any],
               on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.fired_at = occurred_at
        self.state = "fired"

    def cancel(self, by: Attribution, reason: str) -> None:
        self.require_state("cancel", "scheduled")
        self._cancelled(reason=check_text("reason", reason, 200), **by.fields())

    @event("TimerCancelled")
    def _cancelled(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                   occurred_at: datetime) -> None:
        self.state = "cancelled"
