"""ServiceTask under random command sequences (valid and invalid, any side, any date).

After every step: the state is a design state; a refused command changed nothing; an accepted
one followed an edge of the docs/domain.md diagram and recorded one event; the deliverer never
confirms, rejects or rates its own delivery and the receiver never reports the giver's; a
confirmation is never dated before the delivery; an overdue flag is raised once per delivery;
final states never leave; replaying the collected events gives the same aggregate.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, initialize, invariant, precondition, rule,
)

from domain.base import Attribution
from domain.task import FINAL_STATES, STATES, ServiceTask
from tests.domain_support import (
    attempt_command,
    GIVER, RECEIVER, STRANGER, at, by, clerk_for, day, raise_need, replay, system,
    task_in_state,
)

# The docs/domain.md diagram, written out independently of the aggregate (cancelling a pooled
# need is this aggregate's one addition: otherwise an unclaimed pooled need could never end).
EDGES = {
    "TaskClaimed": {("open", "claimed"), ("pooled", "claimed")},
    "ClaimWithdrawn": {("claimed", "open"), ("claimed", "pooled")},
    "NeedPooled": {("open", "pooled")},
    "TaskPlanned": {("claimed", "planned")},
    "DeliveryReported": {("planned", "delivered")},
    "DeliveryConfirmed": {("delivered", "confirmed")},
    "DeliveryRejected": {("delivered", "planned")},
    "ConfirmationOverdue": {("delivered", "delivered")},
    "SatisfactionRated": {("confirmed", "rated")},
    "TaskClosed": {("rated", "closed")},
    "TaskCancelled": {(s, "cancelled") for s in ("open", "pooled", "claimed", "planned")},
}
ALLOWED = {
    "claim": ("open", "pooled"),
    "withdraw the claim": ("claimed",),
    "pool": ("open",),
    "plan": ("claimed",),
    "report delivery": ("planned",),
    "confirm delivery": ("delivered",),
    "reject delivery": ("delivered",),
    "flag the confirmation overdue": ("delivered",),
    "rate satisfaction": ("confirmed",),
    "close": ("rated",),
    "cancel": ("open", "pooled", "claimed", "planned"),
}
ACTORS = ("receiver", "claimer", "other_giver", "clerk_receiver", "clerk_claimer",
          "claimer_for_receiver", "receiver_for_claimer", "region", "system")
RECEIVER_SIDE = {"receiver", "clerk_receiver"}
CLAIMER_SIDE = {"claimer", "clerk_claimer"}


def mostly(good: Any, *bad: Any) -> st.SearchStrategy[Any]:
    """About half the time the good value, else any of the values (good or bad)."""
    return st.one_of(st.just(good), st.sampled_from((good,) + bad))


def good_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


anyone = st.sampled_from(ACTORS)
receivers = mostly("receiver", *ACTORS)
claimers = mostly("claimer", *ACTORS)
steps = st.integers(min_value=-3, max_value=12)  # days from the last event; may go back
reasons = mostly("原因", "  说明 ", "", "  ", None, 3)
digests = mostly(None, "0f" * 32, "0F" * 32, "0f" * 33, "digest")
yuan = mostly(None, Decimal("0"), Decimal("950.50"), Decimal("-5"), Decimal("Infinity"),
              Decimal("1.005"), 10)


class TaskMachine(RuleBasedStateMachine):
    t: ServiceTask

    @initialize(start=st.sampled_from(("fresh",) + STATES), claimer=st.sampled_from([GIVER,
                                                                                    STRANGER]))
    def raise_it(self, start: str, claimer: UUID) -> None:
        """A fresh need, or (to reach deep states often) a task brought to ``start``."""
        self.t = raise_need() if start == "fresh" else task_in_state(start, claimer)
        self.history: list[Any] = list(self.t.collect_events())
        self.clock = max((e.occurred_at - at(0)).days for e in self.history)
        self.final_version: int | None = (self.t.version if self.t.state in FINAL_STATES
                                          else None)

    # -- helpers -----------------------------------------------------------------------------

    def claimer(self) -> UUID:
        return self.t.claimer_id or GIVER

    def who(self, actor: str, when: datetime) -> Attribution:
        claimer = self.claimer()
        return {
            "receiver": lambda: by(RECEIVER, when),
            "claimer": lambda: by(claimer, when),
            "other_giver": lambda: by(STRANGER if claimer == GIVER else GIVER, when),
            "clerk_receiver": lambda: clerk_for(RECEIVER, when),
            "clerk_claimer": lambda: clerk_for(claimer, when),
            "claimer_for_receiver": lambda: by(claimer, when, on_behalf_of=RECEIVER),
            "receiver_for_claimer": lambda: by(RECEIVER, when, on_behalf_of=claimer),
            "region": lambda: by(None, when, role="supervisor"),
            "system": lambda: system(when),
        }[actor]()

    def when(self, step: int) -> datetime:
        return at(self.clock + step, hours=1)

    def attempt(self, command: str, call: Callable[[], None], *, may_succeed: bool = True,
                step: int = 0) -> bool:
        if not attempt_command(self.t, self.history, ALLOWED, EDGES, command, call,
                               may_succeed):
            return False
        event(f"reached {self.t.state}")
        self.clock += step  # the next step is measured from this event
        return True

    # -- rules -------------------------------------------------------------------------------

    @rule(giver=mostly(GIVER, STRANGER, RECEIVER), paired=st.booleans(),
          as_giver=st.sampled_from(["itself", "clerk", "receiver_for_it", "other"]), step=steps)
    def claim(self, giver: UUID, paired: bool, as_giver: str, step: int) -> None:
        when = self.when(step)
        b = {
            "itself": lambda: by(giver, when),
            "clerk": lambda: clerk_for(giver, when),
            "receiver_for_it": lambda: by(RECEIVER, when, on_behalf_of=giver),
            "other": lambda: by(STRANGER if giver == GIVER else GIVER, when),
        }[as_giver]()
        opened = self.t.state == "open"
        if self.attempt("claim", lambda: self.t.claim(b, giver, paired),
                        may_succeed=giver != RECEIVER and as_giver in ("itself", "clerk")
                        and (paired or not opened), step=step):
            assert self.t.claimer_id == giver and self.t.claimed_at == when

    @rule(actor=claimers, step=steps, reason=reasons)
    def withdraw_claim(self, actor: str, step: int, reason: Any) -> None:
        claimed_from = self.t.claimed_from
        if self.attempt("withdraw the claim", lambda: self.t.withdraw_claim(
                self.who(actor, self.when(step)), reason),
                may_succeed=actor in CLAIMER_SIDE and good_text(reason), step=step):
            assert self.t.state == claimed_from and self.t.claimer_id is None

    @rule(actor=anyone, step=steps, today=st.integers(min_value=-2, max_value=90),
          window=mostly(30, None, 0, 15))
    def pool(self, actor: str, step: int, today: int, window: Any) -> None:
        self.attempt("pool", lambda: self.t.pool(self.who(actor, self.when(step)), day(today),
                                                 window),
                     may_succeed=today >= 0 and window != 0
                     and (window is None or today >= window), step=step)

    @rule(actor=claimers, step=steps, due=st.integers(min_value=-5, max_value=60), budget=yuan)
    def plan(self, actor: str, step: int, due: int, budget: Any) -> None:
        self.attempt("plan", lambda: self.t.plan(self.who(actor, self.when(step)),
                                                 day(self.clock + due), budget),
                     may_succeed=actor in CLAIMER_SIDE, step=step)

    @rule(actor=claimers, step=steps, earlier=st.integers(min_value=-2, max_value=5),
          value=yuan, digest=digests, note=mostly(None, "已交付", "  ", ""))
    def report_delivery(self, actor: str, step: int, earlier: int, value: Any, digest: Any,
                        note: Any) -> None:
        when = self.when(step)
        delivered_at = when - timedelta(days=earlier)
        if self.attempt("report delivery", lambda: self.t.report_delivery(
                self.who(actor, when), delivered_at, value, note, digest),
                may_succeed=actor in CLAIMER_SIDE and earlier >= 0, step=step):
            assert self.t.delivered_at == delivered_at and not self.t.confirmation_overdue

    @rule(actor=receivers, step=steps)
    def confirm_delivery(self, actor: str, step: int) -> None:
        self.attempt("confirm delivery", lambda: self.t.confirm_delivery(
            self.who(actor, self.when(step))), may_succeed=actor in RECEIVER_SIDE, step=step)

    @rule(actor=receivers, step=steps, reason=reasons)
    def reject_delivery(self, actor: str, step: int, reason: Any) -> None:
        self.attempt("reject delivery", lambda: self.t.reject_delivery(
            self.who(actor, self.when(step)), reason),
            may_succeed=actor in RECEIVER_SIDE and good_text(reason), step=step)

    @rule(actor=anyone, step=steps, later=st.integers(min_value=-5, max_value=40),
          window=mostly(15, 0, 1, 30, True))
    def flag_confirmation_overdue(self, actor: str, step: int, later: int, window: Any) -> None:
        was_flagged = self.t.confirmation_overdue
        self.attempt("flag the confirmation overdue", lambda: self.t.flag_confirmation_overdue(
            self.who(actor, self.when(step)), day(self.clock + later), window),
            may_succeed=window is not True and window > 0 and not was_flagged, step=step)

    @rule(actor=receivers, step=steps,
          level=mostly("satisfied", "basically_satisfied", "dissatisfied", "unknown", None),
          comment=mostly(None, "满意", " "))
    def rate_satisfaction(self, actor: str, step: int, level: Any, comment: Any) -> None:
        self.attempt("rate satisfaction", lambda: self.t.rate_satisfaction(
            self.who(actor, self.when(step)), level, comment),
            may_succeed=actor in RECEIVER_SIDE, step=step)

    @rule(actor=anyone, step=steps)
    def close(self, actor: str, step: int) -> None:
        self.attempt("close", lambda: self.t.close(self.who(actor, self.when(step))),
                     may_succeed=actor not in ("other_giver", "claimer_for_receiver",
                                               "receiver_for_claimer"), step=step)

    @rule(actor=receivers, step=steps, reason=reasons)
    def cancel(self, actor: str, step: int, reason: Any) -> None:
        # Before a claim no giver is a party, so a giver's member (a 第一书记 seconded from an
        # agency) may act for the village; once a giver has claimed, that giver's members may not.
        for_the_village = actor in RECEIVER_SIDE or (
            actor == "claimer_for_receiver" and self.t.claimer_id is None)
        self.attempt("cancel", lambda: self.t.cancel(self.who(actor, self.when(step)), reason),
                     may_succeed=for_the_village and good_text(reason), step=step)

    # -- probes: any side, in the very state where the side is what decides -----------------

    @precondition(lambda self: self.t.state in ("delivered", "confirmed"))
    @rule(actor=anyone, step=st.integers(min_value=-2, max_value=5),
          act=st.sampled_from(["confirm", "reject", "rate"]))
    def probe_the_receivers_acts(self, actor: str, step: int, act: str) -> None:
        {
            "confirm": lambda: self.confirm_delivery(actor, step),
            "reject": lambda: self.reject_delivery(actor, step, "不合格"),
            "rate": lambda: self.rate_satisfaction(actor, step, "satisfied", None),
        }[act]()

    @precondition(lambda self: self.t.state in ("delivered", "confirmed"))
    @rule(step=st.integers(min_value=-3, max_value=1), actor=st.sampled_from(sorted(RECEIVER_SIDE)),
          act=st.sampled_from(["confirm", "reject", "rate"]))
    def probe_the_receivers_dates(self, step: int, actor: str, act: str) -> None:
        self.probe_the_receivers_acts(actor, step, act)

    @precondition(lambda self: self.t.state == "delivered")
    @rule(later=st.integers(min_value=10, max_value=40))
    def probe_the_overdue_flag(self, later: int) -> None:
        self.flag_confirmation_overdue("system", 0, later, 15)

    @precondition(lambda self: self.t.state in ("claimed", "planned"))
    @rule(actor=anyone, step=st.integers(min_value=0, max_value=5),
          act=st.sampled_from(["withdraw", "plan", "deliver", "cancel"]))
    def probe_the_claimers_acts(self, actor: str, step: int, act: str) -> None:
        {
            "withdraw": lambda: self.withdraw_claim(actor, step, "撤回"),
            "plan": lambda: self.plan(actor, step, 20, None),
            "deliver": lambda: self.report_delivery(actor, step, 0, None, None, None),
            "cancel": lambda: self.cancel(actor, step, "取消"),
        }[act]()

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def state_is_a_design_state(self) -> None:
        assert self.t.state in STATES

    @invariant()
    def replay_gives_the_same_task(self) -> None:
        assert replay(self.history) == self.t

    @invariant()
    def two_facts_by_two_parties(self) -> None:
        deliverer: UUID | None = None
        claimer: UUID | None = None
        flagged = False
        for e in self.history:
            name = type(e).__name__
            own = UUID(e.actor["organisation_id"]) if e.actor["organisation_id"] else None
            acting = e.on_behalf_of or own
            if name == "TaskClaimed":
                claimer = e.giver_id
                assert acting == claimer
            elif name == "ClaimWithdrawn":
                assert acting == claimer
                claimer = None
            elif name == "DeliveryReported":
                assert acting == claimer != RECEIVER
                deliverer, flagged = claimer, False
            elif name in ("DeliveryConfirmed", "DeliveryRejected", "SatisfactionRated"):
                assert acting == RECEIVER
                assert deliverer not in (own, acting)
            elif name == "ConfirmationOverdue":
                assert not flagged, "flagged twice for one delivery"
                flagged = True

    @invariant()
    def confirmation_never_before_the_delivery(self) -> None:
        if self.t.confirmed_at is not None:
            assert self.t.delivered_at is not None and self.t.delivery_reported_at is not None
            assert self.t.confirmed_at >= self.t.delivery_reported_at >= self.t.delivered_at
        if self.t.rated_at is not None:
            assert self.t.confirmed_at is not None and self.t.rated_at >= self.t.confirmed_at

    @invariant()
    def claimer_known_exactly_while_claimed(self) -> None:
        if self.t.state in ("open", "pooled"):
            assert self.t.claimer_id is None
        elif self.t.state not in ("cancelled",):
            assert self.t.claimer_id is not None
        if self.t.confirmation_overdue:
            assert self.t.state in ("delivered", "confirmed", "rated", "closed")

    @invariant()
    def final_states_never_leave(self) -> None:
        if self.final_version is not None:
            assert self.t.state in FINAL_STATES and self.t.version == self.final_version
        elif self.t.state in FINAL_STATES:
            self.final_version = self.t.version


TaskMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTaskMachine = TaskMachine.TestCase
