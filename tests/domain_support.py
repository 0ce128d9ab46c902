"""Shared helpers for the domain tests: fixed organisations, a fixed UTC time base, attributions.

Nothing here reads the clock: every time is ``T0`` plus an offset.
"""
from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Iterable
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.base import SYSTEM, Actor, Attribution
from domain.commitment import PublicCommitment
from domain.errors import DomainError, WrongState
from domain.task import ServiceTask

PAIRING = UUID("0b8c5a5e-6c3e-4f59-9d0e-3f1d2a6b7c80")
SHA = "ab" * 32
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Beijing, a Monday
D0 = T0.date()
CST = timezone(timedelta(hours=8))


def org(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/cobuild/tests/organisations/{name}")


GIVER = org("agency")        # a 机关 party branch
RECEIVER = org("village")    # a 村 party branch
STRANGER = org("other-agency")  # a giving organisation that is not party to the matter
ROLE_OF = {GIVER: "agency", STRANGER: "agency", RECEIVER: "village"}


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def day(days: int = 0) -> date:
    return D0 + timedelta(days=days)


PROXY_REASON = "村支书外出培训，由乡镇代录"


def by(organisation_id: UUID | None, when: datetime | None = None, *,
       on_behalf_of: UUID | None = None, role: str | None = None,
       user: str | None = None) -> Attribution:
    """An attribution for a user of ``organisation_id`` (None: a regional user)."""
    role = role or ROLE_OF.get(organisation_id, "supervisor")  # type: ignore[arg-type]
    actor = Actor(user_id=user or f"{role}-user", role=role, organisation_id=organisation_id)
    return Attribution(actor=actor, occurred_at=when or T0, on_behalf_of=on_behalf_of,
                       reason=PROXY_REASON if on_behalf_of else None)


def clerk_for(organisation_id: UUID, when: datetime | None = None) -> Attribution:
    """A township clerk (no organisation of their own) entering data for ``organisation_id``."""
    actor = Actor(user_id="township-clerk", role="supervisor", region_code="110101001000")
    return Attribution(actor=actor, occurred_at=when or T0, on_behalf_of=organisation_id,
                       reason=PROXY_REASON)


def system(when: datetime | None = None) -> Attribution:
    return Attribution(actor=SYSTEM, occurred_at=when or T0)


def state_of(aggregate: Any) -> dict[str, Any]:
    """Everything an aggregate holds, pending events excluded, copied for later comparison."""
    return copy.deepcopy({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})


def replay(events: Iterable[Any]) -> Any:
    """Rebuild an aggregate from its events, as a repository does."""
    aggregate = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


def event_names(events: Iterable[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


# -- aggregates brought to a given state by valid commands -----------------------------------

def make_commitment(made_by: str = "giver", when: datetime | None = None,
                    **overrides: Any) -> PublicCommitment:
    maker = GIVER if made_by == "giver" else RECEIVER
    kwargs: dict[str, Any] = dict(
        pairing_id=PAIRING, giver_id=GIVER, receiver_id=RECEIVER, made_by=made_by,
        category="funds", content="为村集体经济项目筹措资金五万元", due_on=day(30),
        quantity=None, unit=None, amount_yuan=Decimal("50000.00"),
    )
    kwargs.update(overrides)
    return PublicCommitment.make(by(maker, when or at(0)), **kwargs)


def commitment_in_state(state: str, made_by: str = "giver") -> PublicCommitment:
    """A commitment brought to ``state`` by valid commands."""
    c = make_commitment(made_by)
    if state == "draft":
        return c
    if state == "discarded":
        c.discard(by(c.maker_id, at(1)), "重复录入")
        return c
    c.publicise(by(c.maker_id, at(1)), "党务公开栏", day(1))
    if state == "public":
        return c
    if state == "overdue":
        c.mark_overdue(system(at(31)), day(31))
        return c
    if state == "not_fulfilled":
        c.abandon(by(c.maker_id, at(5)), "项目资金未获批准", explained_to_public=True)
        return c
    c.claim_fulfilment(by(c.maker_id, at(10)), note="已拨付", evidence_sha256=SHA)
    if state == "claimed":
        return c
    c.confirm_fulfilment(by(c.beneficiary_id, at(12)))
    if state == "fulfilled":
        return c
    assert state == "evaluated"
    c.evaluate(by(None, at(40), role="evaluator"), "kept")
    return c


def raise_need(when: datetime | None = None, **overrides: Any) -> ServiceTask:
    kwargs: dict[str, Any] = dict(receiver_id=RECEIVER, category="infrastructure",
                                  title="村道路灯维修", details="主路十二盏路灯损坏",
                                  wanted_by=day(45))
    kwargs.update(overrides)
    return ServiceTask.raise_need(by(RECEIVER, when or at(0)), **kwargs)


def task_in_state(state: str, claimer: UUID = GIVER) -> ServiceTask:
    """A task brought to ``state`` by valid commands (claimed from open by a paired giver)."""
    t = raise_need()
    if state == "open":
        return t
    if state == "cancelled":
        t.cancel(by(RECEIVER, at(1)), "需求已由镇里解决")
        return t
    if state == "pooled":
        t.pool(system(at(31)), day(31), window_days=30)
        return t
    t.claim(by(claimer, at(1)), claimer, paired_with_receiver=True)
    if state == "claimed":
        return t
    t.plan(by(claimer, at(2)), day(30), Decimal("8000.00"))
    if state == "planned":
        return t
    t.report_delivery(by(claimer, at(10, hours=1)), at(10), Decimal("7600.00"), "已更换",
                      SHA)
    if state == "delivered":
        return t
    t.confirm_delivery(by(RECEIVER, at(12)))
    if state == "confirmed":
        return t
    t.rate_satisfaction(by(RECEIVER, at(13)), "satisfied", "群众很满意")
    if state == "rated":
        return t
    assert state == "closed"
    t.close(system(at(14)))
    return t




# -- through an event store ------------------------------------------------------------------

class DateAsISO(Transcoding):
    """The ``date`` transcoding the engine registers (local dates such as ``due_on``)."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class StoreApp(Application):
    """An in-memory (POPO) event store with the engine's transcodings."""

    is_snapshotting_enabled = True

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


def through_the_store(aggregate: Any, snapshot: bool = False) -> Any:
    """Save (with JSON transcoding), then read back from the events, or from a snapshot."""
    app = StoreApp()
    app.save(aggregate)
    if snapshot:
        app.take_snapshot(aggregate.id)
        assert app.snapshots is not None
        assert list(app.snapshots.get(aggregate.id))
    return app.repository.get(aggregate.id)


def attempt_command(aggregate: Any, history: list[Any], allowed: dict[str, Any],
                    edges: dict[str, Any], command: str, call: Callable[[], None],
                    may_succeed: bool) -> bool:
    """Run one command of a state machine test and check what a refusal or an acceptance
    must mean: a refusal changes nothing (and a wrong-state refusal names state and command);
    an acceptance follows an edge of the lifecycle and records exactly one next event."""
    before_state, before, version = aggregate.state, state_of(aggregate), aggregate.version
    try:
        call()
    except WrongState as error:
        assert before_state not in allowed[command]
        assert (error.state, error.command) == (before_state, command)
        accepted = False
    except DomainError:
        accepted = False
    else:
        accepted = True
    if not accepted:
        assert state_of(aggregate) == before and aggregate.version == version
        assert not aggregate.pending_events
        return False
    assert before_state in allowed[command], f"{command} accepted in {before_state}"
    assert may_succeed, f"{command} accepted from a side that may not do it"
    (new,) = aggregate.collect_events()
    assert (before_state, aggregate.state) in edges[type(new).__name__]
    assert new.originator_version == version + 1
    history.append(new)
    return True
