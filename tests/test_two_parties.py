"""Two parties, two people (DESIGN §13, issue #16 F1), in the domain.

Random sequences of acts on a pairing, a commitment and a task, each by a random person:
the village's and the agency's own users, two township clerks and an admin entering on
behalf of either side (or of none).  Whatever is refused, what is recorded never has one
person on both sides: the second side of every two-party fact is somebody else.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID

import pytest
from hypothesis import given, settings, strategies as st

from domain.base import Actor, Attribution
from domain.commitment import PublicCommitment
from domain.errors import DomainError, InvalidValue, NotPermitted
from domain.pairing import Pairing
from domain.task import ServiceTask
from tests.domain_support import GIVER, RECEIVER, T0

PEOPLE = {
    "agency": Actor("agency-user", "agency", GIVER),
    "village": Actor("village-user", "village", RECEIVER),
    "clerk": Actor("township-clerk", "supervisor", None, "331123101"),
    "clerk2": Actor("township-clerk-2", "supervisor", None, "331123101"),
    "admin": Actor("county-admin", "admin", None, "331123"),
}
REASON = "村支书外出培训，由乡镇代录"


def attribution(person: str, behalf: UUID | None, hour: int) -> Attribution:
    """``person`` acting; a proxy (no organisation of its own) for ``behalf``."""
    actor = PEOPLE[person]
    if actor.organisation_id is not None:
        behalf = None  # members act for their own organisation (the engine refuses more)
    return Attribution(actor, T0 + timedelta(hours=hour), behalf, REASON if behalf else None)


def other(side: str) -> str:
    return "receiver" if side == "giver" else "giver"


# -- which side each recorded event was written for, read from the events alone ----------

def pairing_sides(events: list[Any]) -> list[tuple[str, str, Any]]:
    """(user id, side, event) for every party fact of a pairing."""
    recorded_by: dict[str, str] = {}
    out = []
    for e in events:
        name = type(e).__name__
        side = {"PairingProposed": "giver", "PairingAccepted": "receiver",
                "PairingDeclined": "receiver"}.get(name)
        if name == "AgreementSigned":
            side = e.side
        elif name == "ActivityRecorded":
            side = recorded_by[e.activity_id] = e.recorded_by
        elif name in ("ActivityCoSigned", "ActivityContested"):
            side = other(recorded_by[e.activity_id])
        if side:
            out.append((e.actor["user_id"], side, e))
    return out


def commitment_sides(events: list[Any]) -> list[tuple[str, str, Any]]:
    maker = events[0].made_by
    out = []
    for e in events:
        name = type(e).__name__
        if name in ("FulfilmentConfirmed", "FulfilmentDisputed"):
            out.append((e.actor["user_id"], other(maker), e))
        elif name not in ("CommitmentOverdue", "CommitmentEvaluated"):
            out.append((e.actor["user_id"], maker, e))
    return out


def task_sides(events: list[Any]) -> list[tuple[str, str, Any]]:
    giver_acts = ("TaskClaimed", "ClaimWithdrawn", "TaskPlanned", "DeliveryReported")
    receiver_acts = ("NeedRaised", "DeliveryConfirmed", "DeliveryRejected", "SatisfactionRated",
                     "TaskCancelled")
    out = []
    for e in events:
        name = type(e).__name__
        if name in giver_acts:
            out.append((e.actor["user_id"], "giver", e))
        elif name in receiver_acts:
            out.append((e.actor["user_id"], "receiver", e))
    return out


def assert_two_people(sides: list[tuple[str, str, Any]]) -> None:
    """No person on both sides; so every fact answering the other side is someone else's."""
    seen: dict[str, set[str]] = defaultdict(set)
    for user, side, _ in sides:
        seen[user].add(side)
    assert all(len(s) == 1 for s in seen.values()), dict(seen)


def assert_answers_by_another(sides: list[tuple[str, str, Any]], first: str,
                              answers: tuple[str, ...]) -> None:
    """Whoever wrote a fact never answers that same fact (an activity by its id); one
    person may well co-sign the other side's activity and record one of their own."""
    writers = {(user, getattr(e, "activity_id", None)) for user, _, e in sides
               if type(e).__name__ == first}
    for user, _, e in sides:
        if type(e).__name__ in answers:
            assert (user, getattr(e, "activity_id", None)) not in writers, (type(e).__name__, user)


def run(acts: list[tuple[Callable[..., None], str, UUID | None]], target: Any) -> int:
    refused = 0
    for hour, (act, person, behalf) in enumerate(acts, start=1):
        try:
            act(target, attribution(person, behalf, hour), hour)
        except DomainError:
            refused += 1
    return refused


person = st.sampled_from(sorted(PEOPLE))
behalf = st.sampled_from((GIVER, RECEIVER))


# -- a pairing ---------------------------------------------------------------------------

def _accept(p: Pairing, by: Attribution, hour: int) -> None:
    p.accept(by)


def _sign(p: Pairing, by: Attribution, hour: int) -> None:
    p.sign_agreement(by, (T0 + timedelta(hours=hour)).date())


def _record(p: Pairing, by: Attribution, hour: int) -> None:
    p.record_activity(by, f"a{hour}", "visit", "走访慰问困难党员")


def _answer(cosign: bool) -> Callable[[Pairing, Attribution, int], None]:
    def act(p: Pairing, by: Attribution, hour: int) -> None:
        pending = [a for a, v in p.activities.items() if v["status"] == "recorded"]
        if pending:
            if cosign:
                p.cosign_activity(by, pending[0])
            else:
                p.contest_activity(by, pending[0], "当日未见对方人员到场")
    return act


pairing_act = st.sampled_from([_accept, _sign, _sign, _record, _record, _answer(True),
                               _answer(False)])


@settings(max_examples=300, deadline=None)
@given(proposer=person, proposer_for=behalf,
       acts=st.lists(st.tuples(pairing_act, person, behalf), max_size=30))
def test_a_pairing_never_has_one_person_on_both_sides(proposer, proposer_for, acts):
    try:
        p = Pairing.propose(attribution(proposer, proposer_for, 0), GIVER, RECEIVER,
                            date(2026, 1, 1), date(2028, 12, 31))
    except DomainError:
        return
    run(acts, p)
    sides = pairing_sides(p.collect_events())
    assert_two_people(sides)
    assert_answers_by_another(sides, "PairingProposed", ("PairingAccepted", "PairingDeclined"))
    assert_answers_by_another(sides, "ActivityRecorded", ("ActivityCoSigned", "ActivityContested"))
    signers = [user for user, _, e in sides if type(e).__name__ == "AgreementSigned"]
    assert len(signers) == len(set(signers))


# -- a commitment --------------------------------------------------------------------------

def _publicise(c: PublicCommitment, by: Attribution, hour: int) -> None:
    c.publicise(by, "村务公开栏", (T0 + timedelta(hours=hour)).date())


def _claim(c: PublicCommitment, by: Attribution, hour: int) -> None:
    c.claim_fulfilment(by, note="已拨付")


def _confirm(c: PublicCommitment, by: Attribution, hour: int) -> None:
    c.confirm_fulfilment(by)


def _dispute(c: PublicCommitment, by: Attribution, hour: int) -> None:
    c.dispute_fulfilment(by, "只完成了一部分")


commitment_act = st.sampled_from([_publicise, _claim, _claim, _confirm, _dispute])


@settings(max_examples=300, deadline=None)
@given(maker=person, maker_for=behalf, made_by=st.sampled_from(("giver", "receiver")),
       acts=st.lists(st.tuples(commitment_act, person, behalf), max_size=25))
def test_a_commitment_is_never_confirmed_by_whoever_made_or_claimed_it(maker, maker_for, made_by,
                                                                         acts):
    try:
        c = PublicCommitment.make(attribution(maker, maker_for, 0), UUID(int=1), GIVER, RECEIVER,
                                  made_by, "funds", "资助村道硬化", date(2026, 12, 31),
                                  amount_yuan=Decimal("50000"))
    except DomainError:
        return
    run(acts, c)
    sides = commitment_sides(c.collect_events())
    assert_two_people(sides)
    assert_answers_by_another(sides, "FulfilmentClaimed", ("FulfilmentConfirmed", "FulfilmentDisputed"))
    assert_answers_by_another(sides, "CommitmentMade", ("FulfilmentConfirmed", "FulfilmentDisputed"))


# -- a task ----------------------------------------------------------------------------------

def _claim_task(t: ServiceTask, by: Attribution, hour: int) -> None:
    t.claim(by, GIVER, True)


def _plan(t: ServiceTask, by: Attribution, hour: int) -> None:
    t.plan(by, date(2026, 12, 31))


def _deliver(t: ServiceTask, by: Attribution, hour: int) -> None:
    t.report_delivery(by, by.occurred_at - timedelta(minutes=30))


def _confirm_delivery(t: ServiceTask, by: Attribution, hour: int) -> None:
    t.confirm_delivery(by)


def _reject(t: ServiceTask, by: Attribution, hour: int) -> None:
    t.reject_delivery(by, "部分未完成，需返工")


task_act = st.sampled_from([_claim_task, _plan, _deliver, _deliver, _confirm_delivery, _reject])


@settings(max_examples=300, deadline=None)
@given(raiser=person, raiser_for=behalf,
       acts=st.lists(st.tuples(task_act, person, behalf), max_size=30))
def test_a_delivery_is_never_confirmed_by_whoever_raised_claimed_or_delivered(raiser, raiser_for,
                                                                             acts):
    try:
        t = ServiceTask.raise_need(attribution(raiser, raiser_for, 0), RECEIVER, "infrastructure",
                                   "修缮村文化礼堂屋顶")
    except DomainError:
        return
    run(acts, t)
    sides = task_sides(t.collect_events())
    assert_two_people(sides)
    assert_answers_by_another(sides, "DeliveryReported", ("DeliveryConfirmed", "DeliveryRejected"))


# -- the attack of issue #16, step by step, and what stays allowed -------------------------

def in_force_by(giver_side: str, receiver_side: str) -> Pairing:
    p = Pairing.propose(attribution(giver_side, GIVER, 0), GIVER, RECEIVER, date(2026, 1, 1),
                        date(2028, 12, 31))
    p.accept(attribution(receiver_side, RECEIVER, 1))
    p.sign_agreement(attribution(giver_side, GIVER, 2), T0.date())
    p.sign_agreement(attribution(receiver_side, RECEIVER, 3), T0.date())
    return p


def test_one_supervisor_cannot_record_an_activity_for_the_agency_and_cosign_it_for_the_village():
    p = in_force_by("agency", "village")
    p.record_activity(attribution("clerk", GIVER, 4), "a1", "visit", "走访慰问")
    with pytest.raises(NotPermitted) as refused:
        p.cosign_activity(attribution("clerk", RECEIVER, 5), "a1")
    assert refused.value.rule == "two-parties-two-people"
    p.cosign_activity(attribution("clerk2", RECEIVER, 5), "a1")  # another person may
    assert p.activities["a1"]["status"] == "cosigned"


def test_the_proposer_never_accepts_and_one_proxy_never_signs_both_sides():
    p = Pairing.propose(attribution("admin", None, 0), GIVER, RECEIVER, date(2026, 1, 1),
                        date(2028, 12, 31))  # assigned by the organisation department
    with pytest.raises(NotPermitted):
        p.accept(attribution("admin", RECEIVER, 1))
    p.accept(attribution("clerk", RECEIVER, 1))
    p.sign_agreement(attribution("clerk", RECEIVER, 2), T0.date())
    with pytest.raises(NotPermitted):
        p.sign_agreement(attribution("clerk", GIVER, 3), T0.date())
    p.sign_agreement(attribution("agency", None, 3), T0.date())
    assert p.state == "in_force"


def test_a_proxy_needs_a_reason_and_it_is_recorded_with_the_actor():
    with pytest.raises(InvalidValue) as refused:
        Attribution(PEOPLE["clerk"], T0, RECEIVER)
    assert refused.value.field == "reason"
    with pytest.raises(InvalidValue):
        Attribution(PEOPLE["clerk"], T0, RECEIVER, "   ")
    own = Attribution(PEOPLE["village"], T0, RECEIVER)  # naming one's own organisation is no proxy
    assert not own.by_proxy and "proxy_reason" not in own.fields()["actor"]
    proxied = attribution("clerk", RECEIVER, 0)
    assert proxied.fields()["actor"]["proxy_reason"] == REASON
