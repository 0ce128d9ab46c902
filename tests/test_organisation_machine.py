"""Random command sequences on organisations and users: the invariants hold after every step."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.base import Actor, Attribution
from domain.errors import DomainError
from domain.organisation import KINDS, Organisation
from domain.user import User

ADMIN = Actor("a", "admin", None, "")
T0 = datetime(2025, 1, 10, tzinfo=timezone.utc)
amounts = st.one_of(st.decimals(min_value=-10, max_value=10**7, places=2, allow_nan=False),
                    st.just(Decimal("NaN")), st.just(Decimal("Infinity")))


class OrganisationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        kind = KINDS[len(KINDS) - 1]
        self.org = Organisation.register(self.by(), "V1", "某村", kind, "331123101201")
        self.user = User.register(self.by(), "李支书", "village", organisation_id=uuid4())
        self.events = list(self.org.collect_events())
        self.user_events = list(self.user.collect_events())
        self.incomes: dict[int, Decimal] = {}

    def by(self) -> Attribution:
        self.step += 1
        return Attribution(ADMIN, T0 + timedelta(hours=self.step))

    def attempt(self, aggregate, log, command, *args) -> None:
        before = (aggregate.version, aggregate.state, repr(aggregate.__dict__.get("collective_income")))
        was_final = aggregate.state in ("dissolved", "deactivated")
        try:
            command(*args)
        except DomainError:
            assert (aggregate.version, aggregate.state,
                    repr(aggregate.__dict__.get("collective_income"))) == before
            return
        assert not was_final
        log.extend(aggregate.collect_events())

    @rule(name=st.text(max_size=5))
    def rename(self, name):
        self.attempt(self.org, self.events, self.org.rename, self.by(), name)

    @rule(year=st.integers(1900, 2300), amount=amounts)
    def report_income(self, year, amount):
        self.attempt(self.org, self.events, self.org.report_collective_income, self.by(), year, amount)
        if self.events and type(self.events[-1]).__name__ == "CollectiveIncomeReported" \
                and self.events[-1].year == year and self.events[-1].amount == amount:
            self.incomes[year] = amount

    @rule(reason=st.sampled_from(["", "村撤并"]))
    def dissolve(self, reason):
        self.attempt(self.org, self.events, self.org.dissolve, self.by(), reason)

    @rule(reason=st.sampled_from(["", "调离"]))
    def deactivate_user(self, reason):
        self.attempt(self.user, self.user_events, self.user.deactivate, self.by(), reason)

    @invariant()
    def names_are_never_blank(self):
        assert self.org.name.strip()

    @invariant()
    def incomes_are_finite_and_non_negative(self):
        assert self.org.collective_income == self.incomes
        assert all(a.is_finite() and a >= 0 for a in self.org.collective_income.values())

    @invariant()
    def replay_reproduces_the_state(self):
        for log, aggregate in ((self.events, self.org), (self.user_events, self.user)):
            copy = None
            for e in log:
                copy = e.mutate(copy)
            assert copy.__dict__ == aggregate.__dict__


OrganisationMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
TestOrganisationMachine = OrganisationMachine.TestCase
