"""PublicCommitment under random command sequences (valid and invalid, any side, any date).

After every step: the state is a design state; a refused command changed nothing; an accepted
one followed an edge of the docs/domain.md diagram and recorded one event; the maker never
appears as confirmer; the fulfilment is never dated before its claim; the final state never
leaves; replaying the collected events gives the same aggregate.
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
from domain.commitment import FINAL_STATES, STATES, PublicCommitment
from tests.domain_support import (
    attempt_command,
    GIVER, PAIRING, RECEIVER, STRANGER, at, by, clerk_for, commitment_in_state, day, replay,
    system,
)

# The diagram in docs/domain.md (Public commitments), written out independently of the aggregate.
EDGES = {
    "CommitmentPublicised": {("draft", "public")},
    "ProgressReported": {("public", "public")},
    "DeadlineExtended": {("public", "public")},
    "CommitmentOverdue": {("public", "overdue")},
    "FulfilmentClaimed": {("public", "claimed"), ("overdue", "claimed")},
    "FulfilmentConfirmed": {("claimed", "fulfilled")},
    "FulfilmentDisputed": {("claimed", "public"), ("claimed", "overdue")},
    "CommitmentAbandoned": {("public", "not_fulfilled"), ("overdue", "not_fulfilled")},
    "CommitmentEvaluated": {("fulfilled", "evaluated"), ("not_fulfilled", "evaluated")},
}
ALLOWED = {
    "publicise": ("draft",),
    "report progress": ("public",),
    "extend the deadline": ("public",),
    "mark overdue": ("public",),
    "claim fulfilment": ("public", "overdue"),
    "confirm fulfilment": ("claimed",),
    "dispute fulfilment": ("claimed",),
    "abandon": ("public", "overdue"),
    "evaluate": ("fulfilled", "not_fulfilled"),
}
ACTORS = ("maker", "beneficiary", "stranger", "clerk_maker", "clerk_beneficiary",
          "maker_for_beneficiary", "beneficiary_for_maker", "region", "system")
MAKER_SIDE = {"maker", "clerk_maker"}
BENEFICIARY_SIDE = {"beneficiary", "clerk_beneficiary"}



def mostly(good: Any, *bad: Any) -> st.SearchStrategy[Any]:
    """About half the time the good value, else any of the values (good or bad)."""
    return st.one_of(st.just(good), st.sampled_from((good,) + bad))


def good_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


makers = mostly("maker", *ACTORS)
beneficiaries = mostly("beneficiary", *ACTORS)
anyone = st.sampled_from(ACTORS)
steps = st.integers(min_value=-3, max_value=12)  # days from the machine's clock; may go back
reasons = mostly("客观原因", "  说明  ", "", "   ", None, 7)
digests = mostly(None, "ab" * 32, "AB" * 32, "ab" * 31, "not a digest")
amounts = mostly(None, Decimal("0"), Decimal("120.50"), Decimal("-1"), Decimal("NaN"),
                 Decimal("0.001"), 5)


class CommitmentMachine(RuleBasedStateMachine):
    c: PublicCommitment

    @initialize(start=st.sampled_from(("fresh",) + STATES),
                made_by=st.sampled_from(["giver", "receiver"]),
                measure=st.sampled_from(["amount", "quantity", "both"]),
                due=st.integers(min_value=0, max_value=40))
    def make(self, start: str, made_by: str, measure: str, due: int) -> None:
        """A fresh commitment, or (to reach deep states often) one brought to ``start``."""
        if start != "fresh":
            self.start(commitment_in_state(start, made_by))
            return
        maker = GIVER if made_by == "giver" else RECEIVER
        self.start(PublicCommitment.make(
            by(maker, at(0)), PAIRING, GIVER, RECEIVER, made_by, "project", "建设村级光伏电站",
            day(due),
            quantity=Decimal("1") if measure != "amount" else None,
            unit="座" if measure != "amount" else None,
            amount_yuan=Decimal("300000") if measure != "quantity" else None,
        ))

    def start(self, commitment: PublicCommitment) -> None:
        self.c = commitment
        self.history: list[Any] = list(self.c.collect_events())
        self.clock = max((e.occurred_at - at(0)).days for e in self.history)
        self.final_version: int | None = (self.c.version if self.c.state in FINAL_STATES
                                          else None)

    # -- helpers -----------------------------------------------------------------------------

    def who(self, actor: str, when: datetime) -> Attribution:
        maker, beneficiary = self.c.maker_id, self.c.beneficiary_id
        return {
            "maker": lambda: by(maker, when),
            "beneficiary": lambda: by(beneficiary, when),
            "stranger": lambda: by(STRANGER, when),
            "clerk_maker": lambda: clerk_for(maker, when),
            "clerk_beneficiary": lambda: clerk_for(beneficiary, when),
            "maker_for_beneficiary": lambda: by(maker, when, on_behalf_of=beneficiary),
            "beneficiary_for_maker": lambda: by(beneficiary, when, on_behalf_of=maker),
            "region": lambda: by(None, when, role="evaluator"),
            "system": lambda: system(when),
        }[actor]()

    def when(self, step: int) -> datetime:
        return at(self.clock + step, hours=1)

    def attempt(self, command: str, call: Callable[[], None], *, may_succeed: bool = True,
                step: int = 0) -> bool:
        if not attempt_command(self.c, self.history, ALLOWED, EDGES, command, call,
                               may_succeed):
            return False
        event(f"reached {self.c.state}")
        self.clock += step  # the next step is measured from this event
        return True

    # -- rules -------------------------------------------------------------------------------

    @rule(actor=makers, step=steps, channel=mostly("公示栏", "", None),
          on=st.integers(min_value=-2, max_value=10))
    def publicise(self, actor: str, step: int, channel: Any, on: int) -> None:
        self.attempt("publicise", lambda: self.c.publicise(
            self.who(actor, self.when(step)), channel, day(self.clock + on)),
            may_succeed=actor in MAKER_SIDE and bool(channel) and self.clock + on >= 0, step=step)

    @rule(actor=makers, step=steps, note=mostly("进展", "", None), amount=amounts,
          digest=digests)
    def report_progress(self, actor: str, step: int, note: Any, amount: Any, digest: Any) -> None:
        self.attempt("report progress", lambda: self.c.report_progress(
            self.who(actor, self.when(step)), note, amount_yuan=amount, evidence_sha256=digest),
            may_succeed=actor in MAKER_SIDE and bool(note), step=step)

    @rule(actor=makers, step=steps, later=st.integers(min_value=-5, max_value=30),
          reason=reasons)
    def extend_deadline(self, actor: str, step: int, later: int, reason: Any) -> None:
        new_due = self.c.due_on + timedelta(days=later)
        accepted = self.attempt("extend the deadline", lambda: self.c.extend_deadline(
            self.who(actor, self.when(step)), new_due, reason),
            may_succeed=actor in MAKER_SIDE and later > 0 and good_text(reason),
            step=step)
        if accepted:
            assert self.c.due_on == new_due

    @rule(actor=anyone, step=steps, today=st.integers(min_value=0, max_value=90))
    def mark_overdue(self, actor: str, step: int, today: int) -> None:
        self.attempt("mark overdue", lambda: self.c.mark_overdue(
            self.who(actor, self.when(step)), day(today)),
            may_succeed=day(today) > self.c.due_on, step=step)

    @rule(actor=makers, step=steps, digest=digests)
    def claim_fulfilment(self, actor: str, step: int, digest: Any) -> None:
        when = self.when(step)
        if self.attempt("claim fulfilment", lambda: self.c.claim_fulfilment(
                self.who(actor, when), evidence_sha256=digest),
                may_succeed=actor in MAKER_SIDE, step=step):
            assert self.c.claimed_at == when

    @rule(actor=beneficiaries, step=steps)
    def confirm_fulfilment(self, actor: str, step: int) -> None:
        self.attempt("confirm fulfilment", lambda: self.c.confirm_fulfilment(
            self.who(actor, self.when(step))), may_succeed=actor in BENEFICIARY_SIDE, step=step)

    @rule(actor=beneficiaries, step=steps, reason=reasons)
    def dispute_fulfilment(self, actor: str, step: int, reason: Any) -> None:
        claimed_from = self.c.claimed_from
        if self.attempt("dispute fulfilment", lambda: self.c.dispute_fulfilment(
                self.who(actor, self.when(step)), reason),
                may_succeed=actor in BENEFICIARY_SIDE and good_text(reason), step=step):
            assert self.c.state == claimed_from

    @rule(actor=makers, step=steps, reason=reasons, explained=mostly(True, False, None, "yes"))
    def abandon(self, actor: str, step: int, reason: Any, explained: Any) -> None:
        self.attempt("abandon", lambda: self.c.abandon(
            self.who(actor, self.when(step)), reason, explained),
            may_succeed=actor in MAKER_SIDE and isinstance(explained, bool)
            and good_text(reason), step=step)

    @rule(actor=mostly("region", *ACTORS), step=steps,
          outcome=st.sampled_from(["kept", "partial", "broken", "x"]),
          reason=reasons)
    def evaluate(self, actor: str, step: int, outcome: str, reason: Any) -> None:
        self.attempt("evaluate", lambda: self.c.evaluate(
            self.who(actor, self.when(step)), outcome, reason),
            may_succeed=actor not in MAKER_SIDE | {"maker_for_beneficiary",
                                                   "beneficiary_for_maker"}
            and outcome != "x", step=step)

    # -- probes: any side, in the very state where the side is what decides -----------------

    @precondition(lambda self: self.c.state == "claimed")
    @rule(actor=anyone, step=st.integers(min_value=-2, max_value=5),
          confirm=st.booleans())
    def probe_the_beneficiarys_acts(self, actor: str, step: int, confirm: bool) -> None:
        if confirm:
            self.confirm_fulfilment(actor, step)
        else:
            self.dispute_fulfilment(actor, step, "有异议")

    @precondition(lambda self: self.c.state in ("draft", "public", "overdue"))
    @rule(actor=anyone, step=st.integers(min_value=0, max_value=5),
          act=st.sampled_from(["publicise", "progress", "extend", "claim", "abandon"]))
    def probe_the_makers_acts(self, actor: str, step: int, act: str) -> None:
        {
            "publicise": lambda: self.publicise(actor, step, "公示栏", 0),
            "progress": lambda: self.report_progress(actor, step, "进展", None, None),
            "extend": lambda: self.extend_deadline(actor, step, 5, "延期"),
            "claim": lambda: self.claim_fulfilment(actor, step, None),
            "abandon": lambda: self.abandon(actor, step, "放弃", True),
        }[act]()

    @precondition(lambda self: self.c.state in ("fulfilled", "not_fulfilled"))
    @rule(actor=anyone, outcome=st.sampled_from(["partial", "broken"]))
    def probe_the_evaluation(self, actor: str, outcome: str) -> None:
        self.evaluate(actor, 10, outcome, "评诺")

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def state_is_a_design_state(self) -> None:
        assert self.c.state in STATES

    @invariant()
    def replay_gives_the_same_commitment(self) -> None:
        assert replay(self.history) == self.c

    @invariant()
    def the_maker_never_confirms(self) -> None:
        for e in self.history:
            if type(e).__name__ == "FulfilmentConfirmed":
                assert e.actor["organisation_id"] != str(self.c.maker_id)
                acting_for = e.on_behalf_of or UUID(e.actor["organisation_id"])
                assert acting_for == self.c.beneficiary_id

    @invariant()
    def fulfilment_never_before_its_claim(self) -> None:
        if self.c.fulfilled_at is not None:
            assert self.c.claimed_at is not None and self.c.fulfilled_at >= self.c.claimed_at

    @invariant()
    def dates_hang_together(self) -> None:
        assert self.c.due_on >= self.c.original_due_on
        assert (self.c.state == "claimed") == (self.c.claimed_at is not None
                                               and self.c.fulfilled_at is None)
        if self.c.state == "overdue":
            assert self.c.was_overdue

    @invariant()
    def final_state_never_leaves(self) -> None:
        if self.final_version is not None:
            assert self.c.state == "evaluated" and self.c.version == self.final_version
        elif self.c.state == "evaluated":
            self.final_version = self.c.version


CommitmentMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCommitmentMachine = CommitmentMachine.TestCase
