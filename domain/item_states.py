"""States of commitments and service tasks at a date, from their visible steps.

Pure functions: the steps handed in are those visible in the report's window, in log order.
A step whose predecessor is not visible yet (a confirmation dated before the claim it
confirms was recorded) is applied as it comes; the state machine here never refuses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, NamedTuple

class Step(NamedTuple):
    """One visible step; a page of the status board reads thousands (a named tuple is made
    several times faster than a frozen dataclass, and is as immutable)."""

    kind: str
    day: date
    value: str | None = None
    giver_id: str | None = None


@dataclass
class CommitmentState:
    state: str
    due_on: date
    original_due_on: date
    publicised_on: date | None = None
    claimed_on: date | None = None
    fulfilled_on: date | None = None
    abandoned_on: date | None = None
    outcome: str | None = None
    extensions: int = 0
    progress_reports: int = 0

    @property
    def kept_on_time(self) -> bool:
        """Fulfilled, claimed by the original due date (an extension does not make it punctual)."""
        return (self.fulfilled_on is not None and self.claimed_on is not None
                and self.claimed_on <= self.original_due_on)

    def overdue_since(self, as_of: date) -> date | None:
        """The due date, if it has passed with the commitment still open."""
        if self.state in ("public", "overdue", "claimed") and as_of > self.due_on:
            return self.due_on
        return None

    def shown_state(self, as_of: date) -> str:
        if self.state == "public" and as_of > self.due_on:
            return "overdue"
        return self.state


def commitment_state(due_on: date, steps: Iterable[Step]) -> CommitmentState:
    c = CommitmentState(state="draft", due_on=due_on, original_due_on=due_on)
    claimed_from = "public"
    for step in steps:
        kind = step.kind
        if kind == "publicised":
            c.state, c.publicised_on = "public", step.day
        elif kind == "progress":
            c.progress_reports += 1
        elif kind == "extended":
            assert step.value is not None  # an extension always carries the new due date
            c.due_on = date.fromisoformat(step.value)
            c.extensions += 1
        elif kind == "overdue":
            c.state = "overdue"
        elif kind == "claimed":
            claimed_from = c.state if c.state in ("public", "overdue") else "public"
            c.state, c.claimed_on = "claimed", step.day
        elif kind == "disputed":
            c.state, c.claimed_on = step.value or claimed_from, None
        elif kind == "confirmed":
            c.state, c.fulfilled_on = "fulfilled", step.day
        elif kind == "abandoned":
            c.state, c.abandoned_on = "not_fulfilled", step.day
        elif kind == "evaluated":
            c.state, c.outcome = "evaluated", step.value
    return c


@dataclass
class TaskState:
    state: str = "open"
    claimer_id: str | None = None
    claimed_on: date | None = None
    due_on: date | None = None
    delivered_on: date | None = None
    value_yuan: str | None = None
    confirmed_on: date | None = None
    level: str | None = None
    confirmation_overdue: bool = False
    rejections: int = 0
    claimers: list[str] = field(default_factory=list)


def task_state(steps: Iterable[Step]) -> TaskState:
    t = TaskState()
    for step in steps:
        kind = step.kind
        if kind == "claimed":
            t.state, t.claimer_id, t.claimed_on = "claimed", step.giver_id, step.day
            t.claimers.append(step.giver_id or "")
        elif kind == "withdrawn":
            t.state, t.claimer_id, t.claimed_on = step.value or "open", None, None
        elif kind == "pooled":
            t.state = "pooled"
        elif kind == "planned":
            assert step.value is not None  # a plan always carries its due date
            t.state, t.due_on = "planned", date.fromisoformat(step.value)
        elif kind == "delivered":
            t.state, t.delivered_on, t.value_yuan = "delivered", step.day, step.value
            t.confirmation_overdue = False
        elif kind == "confirmed":
            t.state, t.confirmed_on = "confirmed", step.day
        elif kind == "rejected":
            t.state, t.delivered_on, t.value_yuan = "planned", None, None
            t.rejections += 1
            t.confirmation_overdue = False
        elif kind == "confirmation_overdue":
            t.confirmation_overdue = True
        elif kind == "rated":
            t.state, t.level = "rated", step.value
        elif kind in ("closed", "cancelled"):
            t.state = kind
    return t
