"""Pairing: every transition in docs/domain.md (Pairings) and every refusal it implies."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from domain.base import SYSTEM, Actor, Attribution
from domain.errors import InvalidValue, NotPermitted, WrongState
from domain.pairing import Pairing

GIVER, RECEIVER, OTHER = uuid4(), uuid4(), uuid4()
T0 = datetime(2025, 3, 1, 2, tzinfo=timezone.utc)


def by(org=None, role="agency", days=0, on_behalf_of=None) -> Attribution:
    return Attribution(Actor("u", role, org), T0 + timedelta(days=days), on_behalf_of)


def giver(days=0):
    return by(GIVER, "agency", days)


def receiver(days=0):
    return by(RECEIVER, "village", days)


def proposed() -> Pairing:
    return Pairing.propose(giver(), GIVER, RECEIVER, date(2025, 1, 1), date(2027, 12, 31), ["industry"])


def accepted() -> Pairing:
    p = proposed()
    p.accept(receiver(1))
    return p


def in_force() -> Pairing:
    p = accepted()
    p.sign_agreement(giver(2), date(2025, 3, 3))
    p.sign_agreement(receiver(2), date(2025, 3, 3))
    return p


def event_names(p: Pairing) -> list[str]:
    return [type(e).__name__ for e in p.collect_events()]


def replayed(p: Pairing) -> Pairing:
    aggregate = None
    for e in p.collect_events():
        aggregate = e.mutate(aggregate)
    return aggregate


def test_lifecycle_to_in_force_records_each_fact():
    p = in_force()
    assert p.state == "in_force"
    assert p.in_force_since == date(2025, 3, 3)
    assert event_names(p) == ["PairingProposed", "PairingAccepted", "AgreementSigned", "AgreementSigned"]


def test_events_carry_actor_on_behalf_of_and_business_time():
    p = proposed()
    clerk = Actor("clerk", "supervisor", None, "331123101")
    p.accept(Attribution(clerk, T0 + timedelta(hours=3), on_behalf_of=RECEIVER))
    accepted_event = p.collect_events()[-1]
    assert accepted_event.actor == {"user_id": "clerk", "role": "supervisor", "organisation_id": None}
    assert accepted_event.on_behalf_of == RECEIVER
    assert accepted_event.occurred_at == T0 + timedelta(hours=3)


def test_one_signature_is_not_enough():
    p = accepted()
    p.sign_agreement(receiver(2), date(2025, 3, 3))
    assert p.state == "accepted"


def test_each_side_signs_once():
    p = accepted()
    p.sign_agreement(giver(2), date(2025, 3, 3))
    with pytest.raises(NotPermitted, match="already signed"):
        p.sign_agreement(giver(3), date(2025, 3, 4))


def test_signing_before_acceptance_date_is_refused():
    p = accepted()
    with pytest.raises(InvalidValue, match="signed_on"):
        p.sign_agreement(giver(2), date(2025, 2, 1))


def test_decline_is_final_and_needs_a_reason():
    p = proposed()
    with pytest.raises(InvalidValue, match="reason"):
        p.decline(receiver(1), "  ")
    p.decline(receiver(1), "本村已有结对单位")
    assert p.state == "declined"
    with pytest.raises(WrongState, match="pairing is declined: cannot accept"):
        p.accept(receiver(2))


def test_only_the_receiver_accepts_or_declines():
    p = proposed()
    with pytest.raises(NotPermitted) as refused:
        p.accept(giver(1))
    assert refused.value.rule == "receiver-accepts"
    with pytest.raises(NotPermitted):
        p.decline(by(OTHER, "village", 1), "no")


def test_acceptance_never_dated_before_the_proposal():
    p = proposed()
    with pytest.raises(InvalidValue, match="before the proposal"):
        p.accept(receiver(-1))


def test_suspend_resume_renew_terminate():
    p = in_force()
    admin = by(None, "admin", 10)
    with pytest.raises(InvalidValue):
        p.suspend(admin, "")
    p.suspend(admin, "机构改革")
    assert p.state == "suspended"
    with pytest.raises(WrongState):
        p.renew(admin, date(2029, 1, 1))
    p.resume(by(None, "admin", 20))
    assert p.state == "in_force"
    with pytest.raises(InvalidValue, match="after the current term end"):
        p.renew(admin, date(2027, 1, 1))
    p.renew(admin, date(2028, 12, 31))
    assert p.term_end == date(2028, 12, 31)
    p.terminate(by(None, "admin", 30), "村撤并")
    assert p.state == "terminated"
    with pytest.raises(WrongState):
        p.resume(by(None, "admin", 31))


def test_terminate_from_suspended_and_not_from_proposed():
    p = in_force()
    p.suspend(by(None, "admin", 10), "机构改革")
    p.terminate(by(None, "admin", 11), "单位撤销")
    assert p.state == "terminated"
    with pytest.raises(WrongState):
        proposed().terminate(by(None, "admin", 1), "x")


def test_term_ends_only_after_term_end():
    p = in_force()
    with pytest.raises(InvalidValue):
        p.end_term(Attribution(SYSTEM, T0), date(2027, 12, 31))
    assert p.expired_on(date(2028, 1, 1)) and not p.expired_on(date(2027, 12, 31))
    p.end_term(Attribution(SYSTEM, T0), date(2028, 1, 1))
    assert p.state == "expired"


def test_propose_refusals():
    with pytest.raises(InvalidValue, match="itself"):
        Pairing.propose(giver(), GIVER, GIVER, date(2025, 1, 1), date(2026, 1, 1))
    with pytest.raises(InvalidValue, match="term_end"):
        Pairing.propose(giver(), GIVER, RECEIVER, date(2025, 1, 1), date(2025, 1, 1))
    with pytest.raises(InvalidValue, match="area"):
        Pairing.propose(giver(), GIVER, RECEIVER, date(2025, 1, 1), date(2026, 1, 1), ["golf"])
    with pytest.raises(NotPermitted, match="giving organisation proposes"):
        Pairing.propose(receiver(), GIVER, RECEIVER, date(2025, 1, 1), date(2026, 1, 1))


def test_activity_counts_only_when_the_other_side_cosigns():
    p = in_force()
    p.record_activity(giver(5), "a1", "joint_org_life", "联合主题党日", {"giver": 12, "receiver": 20})
    with pytest.raises(NotPermitted) as refused:
        p.cosign_activity(giver(6), "a1")
    assert refused.value.rule == "other-side-cosigns"
    p.cosign_activity(receiver(6), "a1")
    assert p.activities["a1"]["status"] == "cosigned"
    with pytest.raises(NotPermitted, match="already cosigned"):
        p.contest_activity(receiver(7), "a1", "x")


def test_activity_contested_needs_reason_and_is_final():
    p = in_force()
    p.record_activity(receiver(5), "a2", "visit", "走访")
    with pytest.raises(InvalidValue, match="reason"):
        p.contest_activity(giver(6), "a2", "")
    p.contest_activity(giver(6), "a2", "当天未到村")
    assert p.activities["a2"]["status"] == "contested"
    with pytest.raises(NotPermitted):
        p.cosign_activity(giver(7), "a2")


def test_cosign_never_dated_before_the_activity():
    p = in_force()
    p.record_activity(giver(5), "a3", "training", "培训")
    with pytest.raises(InvalidValue, match="before the activity"):
        p.cosign_activity(receiver(4), "a3")


def test_activity_refusals():
    p = accepted()
    with pytest.raises(WrongState, match="accepted: cannot record an activity"):
        p.record_activity(giver(5), "a", "visit", "走访")
    p = in_force()
    with pytest.raises(InvalidValue, match="kind"):
        p.record_activity(giver(5), "a", "banquet", "x")
    with pytest.raises(NotPermitted, match="party"):
        p.record_activity(by(OTHER, "agency", 5), "a", "visit", "x")
    with pytest.raises(InvalidValue, match="participants"):
        p.record_activity(giver(5), "a", "visit", "x", {"giver": -1})
    with pytest.raises(InvalidValue, match="evidence_sha256"):
        p.record_activity(giver(5), "a", "visit", "x", None, "not-a-hash")
    with pytest.raises(InvalidValue, match="no such activity"):
        p.cosign_activity(receiver(5), "missing")


def test_inactivity_flags_are_raised_and_cleared_once():
    p = in_force()
    system = Attribution(SYSTEM, T0 + timedelta(days=100))
    p.flag_inactivity(system, "R2", {"days_without_activity": 91})
    with pytest.raises(NotPermitted):
        p.flag_inactivity(system, "R2", {"days_without_activity": 92})
    p.clear_inactivity(system, "R2")
    assert p.flags == {}
    with pytest.raises(NotPermitted):
        p.clear_inactivity(system, "R2")


def test_replay_gives_the_same_state():
    p = in_force()
    p.record_activity(giver(5), "a1", "visit", "走访")
    p.cosign_activity(receiver(6), "a1")
    copy = replayed(p)
    assert copy.state == p.state and copy.activities == p.activities and copy.version == p.version


def test_refused_command_changes_nothing():
    p = proposed()
    version, state = p.version, p.state
    with pytest.raises(NotPermitted):
        p.accept(giver(1))
    assert (p.version, p.state, len(p.collect_events())) == (version, state, 1)
