"""Random command sequences on a pairing: the invariants hold after every step."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import UUID, uuid4

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.base import SYSTEM, Actor, Attribution
from domain.errors import DomainError
from domain.pairing import ACTIVITY_KINDS, FINAL_STATES, Pairing

GIVER, RECEIVER, STRANGER = uuid4(), uuid4(), uuid4()
T0 = datetime(2025, 1, 10, tzinfo=timezone.utc)
STATES = {"proposed", "accepted", "in_force", "suspended", "declined", "terminated", "expired"}
ACTORS = {
    "giver": Actor("g", "agency", GIVER),
    "receiver": Actor("r", "village", RECEIVER),
    "stranger": Actor("s", "village", STRANGER),
    "admin": Actor("a", "admin", None, ""),
    "system": SYSTEM,
}
who = st.sampled_from(sorted(ACTORS))
reasons = st.sampled_from(["", "  ", "机构调整"])


class PairingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.day = 0
        self.pairing = Pairing.propose(self.by("giver"), GIVER, RECEIVER, date(2025, 1, 1), date(2026, 12, 31))
        self.events = list(self.pairing.collect_events())
        self.activity_ids: list[str] = []

    def by(self, name: str, back: int = 0) -> Attribution:
        return Attribution(ACTORS[name], T0 + timedelta(days=self.day - back))

    def attempt(self, command, *args) -> None:
        before = (self.pairing.version, self.pairing.state, repr(self.pairing.activities), repr(self.pairing.flags))
        was_final = self.pairing.state in FINAL_STATES
        try:
            command(*args)
        except DomainError:
            after = (self.pairing.version, self.pairing.state, repr(self.pairing.activities), repr(self.pairing.flags))
            assert after == before, "a refused command changed the pairing"
            return
        assert not was_final, "a final state was left"
        self.events.extend(self.pairing.collect_events())

    @rule(days=st.integers(0, 40))
    def time_passes(self, days):
        self.day += days

    @rule(actor=who, back=st.integers(0, 3))
    def accept(self, actor, back):
        self.attempt(self.pairing.accept, self.by(actor, back))

    @rule(actor=who, reason=reasons)
    def decline(self, actor, reason):
        self.attempt(self.pairing.decline, self.by(actor), reason)

    @rule(actor=who, back=st.integers(-2, 5))
    def sign(self, actor, back):
        self.attempt(self.pairing.sign_agreement, self.by(actor), (T0 + timedelta(days=self.day - back)).date())

    @rule(actor=who, reason=reasons)
    def suspend(self, actor, reason):
        self.attempt(self.pairing.suspend, self.by(actor), reason)

    @rule(actor=who)
    def resume(self, actor):
        self.attempt(self.pairing.resume, self.by(actor))

    @rule(actor=who, reason=reasons)
    def terminate(self, actor, reason):
        self.attempt(self.pairing.terminate, self.by(actor), reason)

    @rule(extra=st.integers(-30, 400))
    def renew(self, extra):
        self.attempt(self.pairing.renew, self.by("admin"), self.pairing.term_end + timedelta(days=extra))

    @rule(actor=who, kind=st.sampled_from(ACTIVITY_KINDS + ("banquet",)))
    def record_activity(self, actor, kind):
        activity_id = uuid4().hex
        self.attempt(self.pairing.record_activity, self.by(actor), activity_id, kind, "活动")
        if activity_id in self.pairing.activities:
            self.activity_ids.append(activity_id)

    @rule(actor=who, pick=st.integers(0, 50), back=st.integers(0, 3))
    def cosign(self, actor, pick, back):
        if self.activity_ids:
            self.attempt(self.pairing.cosign_activity, self.by(actor, back),
                         self.activity_ids[pick % len(self.activity_ids)])

    @rule(actor=who, pick=st.integers(0, 50), reason=reasons)
    def contest(self, actor, pick, reason):
        if self.activity_ids:
            self.attempt(self.pairing.contest_activity, self.by(actor),
                         self.activity_ids[pick % len(self.activity_ids)], reason)

    @rule(rule_name=st.sampled_from(["R1", "R2", "R5"]))
    def flag(self, rule_name):
        self.attempt(self.pairing.flag_inactivity, self.by("system"), rule_name, {"days": self.day})

    @rule(rule_name=st.sampled_from(["R1", "R2", "R5"]))
    def clear(self, rule_name):
        self.attempt(self.pairing.clear_inactivity, self.by("system"), rule_name)

    @rule()
    def end_term(self):
        self.attempt(self.pairing.end_term, self.by("system"), (T0 + timedelta(days=self.day)).date())

    @invariant()
    def state_is_known(self):
        assert self.pairing.state in STATES

    @invariant()
    def in_force_means_both_signed(self):
        if self.pairing.state in ("in_force", "suspended"):
            assert set(self.pairing.signed_on) == {"giver", "receiver"}

    @invariant()
    def activities_answered_by_the_other_side_only(self):
        answers = {}
        for e in self.events:
            name = type(e).__name__
            if name == "ActivityRecorded":
                answers[e.activity_id] = e.recorded_by
            elif name in ("ActivityCoSigned", "ActivityContested"):
                org = e.on_behalf_of or UUID(e.actor["organisation_id"])
                side = "giver" if org == GIVER else "receiver"
                assert side != answers[e.activity_id]

    @invariant()
    def every_negative_event_has_a_reason(self):
        for e in self.events:
            if type(e).__name__ in ("PairingDeclined", "PairingSuspended", "PairingTerminated", "ActivityContested"):
                assert e.reason.strip()

    @invariant()
    def replay_reproduces_the_state(self):
        copy = None
        for e in self.events:
            copy = e.mutate(copy)
        assert (copy.version, copy.state, copy.activities, copy.flags, copy.term_end) == (
            self.pairing.version, self.pairing.state, self.pairing.activities, self.pairing.flags,
            self.pairing.term_end)


PairingMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestPairingMachine = PairingMachine.TestCase
