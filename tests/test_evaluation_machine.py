"""EvaluationRound under random command sequences, against a model written from docs/domain.md.

After every step: a refused command changed nothing; an accepted one recorded one event and
moved the round where the model says; the grades of a finalised round are those of its
last computed snapshot; replaying the collected events gives the same aggregate.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable
from uuid import UUID, uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.errors import DomainError
from domain.evaluation import FIVE_GOOD, STATES, EvaluationRound
from tests.domain_support import D0, at, by, replay, state_of, system

ORGS = [uuid4() for _ in range(4)]
PAIRINGS = [uuid4(), uuid4()]
PARTIES = {PAIRINGS[0]: (ORGS[0], ORGS[2]), PAIRINGS[1]: (ORGS[1], ORGS[3])}
STRANGER = uuid4()
GOOD_SCORES = {name: 80 for name in FIVE_GOOD}
GRADES = ("优秀", "良好", "一般", "较差")


def snapshot(grades: list[str], version: int = 0) -> dict[str, Any]:
    pairings = [{"pairing_id": str(p), "giver_id": str(PARTIES[p][0]),
                 "receiver_id": str(PARTIES[p][1]), "grade": g} for p, g in zip(PAIRINGS, grades)]
    organisations = [{"organisation_id": str(o), "grade": grades[i % 2]} for i, o in enumerate(ORGS)]
    return {"rule_set_version": version, "pairings": pairings, "organisations": organisations}


class RoundMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.day = 0
        self.round = EvaluationRound.open(by(None, at(0), role="admin"), 2025, "331123", 0)
        self.events = list(self.round.collect_events())
        self.state = "open"
        self.rated: set[tuple[UUID, str]] = set()
        self.computed: dict[str, Any] | None = None
        self.until = None
        self.objections: dict[str, bool] = {}   # id -> still open

    def attempt(self, allowed: bool, command: Callable[[], None], then: str | None = None) -> None:
        before = state_of(self.round)
        try:
            command()
        except DomainError:
            assert not allowed, "refused a command the model allows"
            assert state_of(self.round) == before
            assert not self.round.collect_events()
            return
        assert allowed, "accepted a command the model refuses"
        new = self.round.collect_events()
        assert len(new) == 1
        self.events += new
        if then is not None:
            self.state = then
        assert self.round.state == self.state

    def when(self) -> Any:
        self.day += 1
        return at(self.day)

    @rule(pairing=st.sampled_from(PAIRINGS), side=st.sampled_from(("giver", "receiver", "host")),
          good=st.booleans())
    def rate(self, pairing: UUID, side: str, good: bool) -> None:
        scores = GOOD_SCORES if good else {**GOOD_SCORES, "teamwork": 120}
        allowed = (self.state in ("open", "computed") and side in ("giver", "receiver")
                   and good and (pairing, side) not in self.rated)
        self.attempt(allowed, lambda: self.round.submit_rating(
            by(PARTIES[pairing][0], self.when()), pairing, side, scores), "open")
        if allowed:
            self.rated.add((pairing, side))

    @rule(pairing=st.sampled_from(PAIRINGS), satisfied=st.integers(-1, 3), unknown=st.integers(0, 2))
    def survey(self, pairing: UUID, satisfied: int, unknown: int) -> None:
        allowed = self.state in ("open", "computed") and satisfied >= 0 and satisfied + unknown > 0
        self.attempt(allowed, lambda: self.round.record_satisfaction(
            by(None, self.when()), pairing, {"satisfied": satisfied, "unknown": unknown}), "open")

    @rule(grades=st.lists(st.sampled_from(GRADES), min_size=2, max_size=2),
          version=st.sampled_from((0, 0, 1)))
    def compute(self, grades: list[str], version: int) -> None:
        snap = snapshot(grades, version)
        allowed = self.state in ("open", "computed") and version == 0
        self.attempt(allowed, lambda: self.round.record_scores(
            by(None, self.when(), role="evaluator"), snap), "computed")
        if allowed:
            self.computed = snap

    @rule(days=st.sampled_from((0, 1, 3, 7, 91)))
    def publicise(self, days: int) -> None:
        allowed = self.state == "computed" and 1 <= days <= 90
        start = D0 + timedelta(days=self.day)
        self.attempt(allowed, lambda: self.round.publicise(
            by(None, self.when(), role="admin"), start, days), "publicised")
        if allowed:
            self.until = start + timedelta(days=days - 1)

    @rule(who=st.sampled_from(ORGS + [STRANGER, None]), about=st.sampled_from(PAIRINGS + [None]))
    def object(self, who: UUID | None, about: UUID | None) -> None:
        objection_id = str(uuid4())
        party = who is None or (who in ORGS and (about is None or who in PARTIES[about]))
        allowed = self.state == "publicised" and party
        self.attempt(allowed, lambda: self.round.raise_objection(
            by(who, self.when()), objection_id, "分数有误", about))
        if allowed:
            self.objections[objection_id] = True

    @rule(data=st.data(), resolution=st.sampled_from(("upheld", "dismissed", "ignored")))
    def resolve(self, data: st.DataObject, resolution: str) -> None:
        objection_id = data.draw(st.sampled_from(sorted(self.objections) + ["nope"]))
        allowed = (self.state != "finalised" and self.objections.get(objection_id, False)
                   and resolution != "ignored")
        then = "open" if allowed and resolution == "upheld" else None
        self.attempt(allowed, lambda: self.round.resolve_objection(
            by(None, self.when(), role="evaluator"), objection_id, resolution, "经核实"), then)
        if allowed:
            self.objections[objection_id] = False
            if then:
                self.until = None

    @rule(offset=st.sampled_from((-1, 0, 1, 5)))
    def end_publicity(self, offset: int) -> None:
        allowed = self.state == "publicised" and offset >= 1
        today = (self.until + timedelta(days=offset)) if self.until else D0
        self.attempt(allowed, lambda: self.round.end_publicity(system(self.when()), today),
                     "publicity_ended")

    @rule()
    def finalise(self) -> None:
        allowed = self.state == "publicity_ended" and not any(self.objections.values())
        self.attempt(allowed, lambda: self.round.finalise(by(None, self.when(), role="admin")),
                     "finalised")

    @invariant()
    def consistent(self) -> None:
        assert self.round.state in STATES
        if self.round.state == "finalised":
            assert self.computed is not None
            assert self.round.grades["pairings"] == {
                p["pairing_id"]: p["grade"] for p in self.computed["pairings"]}
        assert state_of(replay(self.events)) == state_of(self.round)


TestRoundMachine = RoundMachine.TestCase
TestRoundMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
