"""Event histories for projection tests and benchmarks.

``World`` drives the real domain aggregates (so every event is one the engine could have
written) and stamps each event's recorded time itself, because the library stamps recorded
time from the wall clock and the tests need backfill and ``known_at`` under their control.
Recorded times never go backwards in log order, as in a real store.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable
from uuid import UUID

from domain.base import SYSTEM, Actor, Attribution
from domain.commitment import PublicCommitment
from domain.errors import DomainError
from domain.organisation import Organisation
from domain.pairing import Pairing
from domain.task import ServiceTask
from workflows.store.clock import local_date

START = datetime(2024, 1, 1, 2, tzinfo=timezone.utc)
ACTIVITY_KINDS = ("joint_org_life", "visit", "practical_matter", "meeting", "training")
OPS = ("propose", "accept", "decline", "sign", "suspend", "resume", "renew", "terminate",
       "end_term", "activity", "cosign", "contest", "income", "commit", "publicise", "extend",
       "claim_fulfilment", "confirm_fulfilment", "dispute", "abandon", "need", "pool",
       "claim_task", "plan", "deliver", "confirm_delivery", "reject", "rate")


class World:
    """Organisations, pairings, commitments and tasks, advanced step by step."""

    def __init__(self, app: Any, givers: int = 3, villages: int = 4,
                 region: str = "331123") -> None:
        self.app = app
        self.now = START  # recorded time
        self.events: list[Any] = []
        self.admin = Actor("admin", "admin", region_code="")
        self.orgs: dict[UUID, Organisation] = {}
        self.givers: list[UUID] = []
        self.villages: list[UUID] = []
        for i in range(givers):
            self.givers.append(self._register(f"G{i}", f"机关党委{i}", "agency",
                                              f"{region}000{i:03d}"))
        for i in range(villages):
            township = 101 + i % 2
            self.villages.append(self._register(f"V{i}", f"村党支部{i}", "village",
                                                f"{region}{township}{200 + i:03d}"))
        self.pairings: list[Pairing] = []
        self.activities: list[tuple[Pairing, str]] = []
        self.commitments: list[PublicCommitment] = []
        self.tasks: list[ServiceTask] = []

    # -- plumbing ---------------------------------------------------------------------------

    def _register(self, code: str, name: str, kind: str, region_code: str) -> UUID:
        org = Organisation.register(self.by(self.admin), code, name, kind, region_code)
        self._collect(org)
        self.orgs[org.id] = org
        return org.id

    def by(self, actor: Actor, backdate: int = 0) -> Attribution:
        return Attribution(actor, self.now - timedelta(days=backdate))

    def org_actor(self, org_id: UUID) -> Actor:
        role = "agency" if org_id in self.givers else "village"
        return Actor(f"user-{org_id}", role, organisation_id=org_id)

    def _collect(self, aggregate: Any) -> None:
        for event in aggregate.collect_events():
            self.events.append(dataclasses.replace(event, timestamp=self.now))

    def flush(self) -> int | None:
        """Write what was collected; returns the log position of the last event."""
        if not self.events:
            return None
        recordings = self.app.save(*self.events)
        self.events = []
        return recordings[-1].notification.id

    def advance(self, days: float) -> None:
        self.now += timedelta(days=days)

    # -- one step of a random history ----------------------------------------------------------

    def step(self, op: str, a: int, b: int, backdate: int) -> bool:
        """Try one act; a refusal by the domain leaves no event (like the engine)."""
        try:
            getattr(self, f"_{op}")(a, b, backdate)
        except DomainError:
            return False
        return True

    def _pick(self, items: list[Any], index: int, *states: str) -> Any:
        """The ``index``-th item (modulo) among those in one of ``states`` (all if none):
        random histories then spend their steps on acts the domain allows."""
        if states:
            items = [i for i in items if i.state in states]
        if not items:
            raise DomainError("nothing to act on")
        return items[index % len(items)]

    def _party(self, pairing: Pairing, side: str) -> Actor:
        return self.org_actor(pairing.giver_id if side == "giver" else pairing.receiver_id)

    def _propose(self, a: int, b: int, backdate: int) -> None:
        giver, village = self._pick(self.givers, a), self._pick(self.villages, b)
        start = local_date(self.now) - timedelta(days=backdate)
        pairing = Pairing.propose(self.by(self.org_actor(giver), backdate), giver, village,
                                  start, start + timedelta(days=365 + 200 * (a % 4)))
        self.pairings.append(pairing)
        self._collect(pairing)

    def _lifecycle(self, a: int, side: str, act: str, backdate: int, *args: Any,
                   states: tuple[str, ...] = ()) -> Pairing:
        pairing = self._pick(self.pairings, a, *states)
        actor = SYSTEM if side == "system" else (
            self.admin if side == "admin" else self._party(pairing, side))
        getattr(pairing, act)(self.by(actor, backdate), *args)
        self._collect(pairing)
        return pairing

    def _accept(self, a, b, backdate):
        self._lifecycle(a, "receiver", "accept", 0, states=("proposed",))

    def _decline(self, a, b, backdate):
        self._lifecycle(a, "receiver", "decline", 0, "不需要", states=("proposed",))

    def _sign(self, a, b, backdate):
        pairing = self._pick(self.pairings, a, "accepted")
        unsigned = [side for side in ("giver", "receiver") if side not in pairing.signed_on]
        side = unsigned[b % len(unsigned)]
        signed_on = max(local_date(self.now) - timedelta(days=backdate % 5),
                        pairing.accepted_at.date())
        pairing.sign_agreement(self.by(self._party(pairing, side)), signed_on)
        self._collect(pairing)

    def _suspend(self, a, b, backdate):
        self._lifecycle(a, "admin", "suspend", backdate % 10, "整顿", states=("in_force",))

    def _resume(self, a, b, backdate):
        self._lifecycle(a, "admin", "resume", 0, states=("suspended",))

    def _renew(self, a, b, backdate):
        pairing = self._pick(self.pairings, a, "in_force")
        self._lifecycle(a, "admin", "renew", 0, pairing.term_end + timedelta(days=100 + b),
                        states=("in_force",))

    def _terminate(self, a, b, backdate):
        self._lifecycle(a, "admin", "terminate", 0, "调整", states=("in_force", "suspended"))

    def _end_term(self, a, b, backdate):
        self._lifecycle(a, "system", "end_term", 0, local_date(self.now),
                        states=("in_force", "suspended"))

    def _activity(self, a, b, backdate):
        pairing = self._pick(self.pairings, a, "in_force")
        activity_id = f"act{len(self.activities)}"
        side = ("giver", "receiver")[b % 2]
        pairing.record_activity(self.by(self._party(pairing, side), backdate), activity_id,
                                ACTIVITY_KINDS[b % len(ACTIVITY_KINDS)], "共建活动",
                                {"giver": 3, "receiver": 5, "masses": b % 7})
        self.activities.append((pairing, activity_id))
        self._collect(pairing)

    def _answer(self, a: int, b: int, backdate: int, act: str, *args: Any) -> None:
        pending = [x for x in self.activities if x[0].activities[x[1]]["status"] == "recorded"]
        pairing, activity_id = self._pick(pending, a)
        activity = pairing.activities[activity_id]
        other = "receiver" if activity["recorded_by"] == "giver" else "giver"
        lag = min(backdate, max((self.now - activity["occurred_at"]).days, 0))
        getattr(pairing, act)(self.by(self._party(pairing, other), lag), activity_id, *args)
        self._collect(pairing)

    def _cosign(self, a, b, backdate):
        self._answer(a, b, backdate, "cosign_activity")

    def _contest(self, a, b, backdate):
        self._answer(a, b, backdate, "contest_activity", "未参加")

    def _income(self, a, b, backdate):
        village = self.orgs[self._pick(self.villages, a)]
        year = local_date(self.now).year - b % 2
        village.report_collective_income(self.by(self.admin, backdate), year,
                                         Decimal(10000 + 5000 * (b % 9)))
        self._collect(village)

    def _commit(self, a, b, backdate):
        pairing = self._pick(self.pairings, a, "in_force")
        side = ("giver", "receiver")[b % 2]
        due = local_date(self.now) + timedelta(days=10 + 20 * (b % 5))
        commitment = PublicCommitment.make(
            self.by(self._party(pairing, side)), pairing.id, pairing.giver_id,
            pairing.receiver_id, side, ("practical_matter", "funds", "talent")[a % 3],
            "修建便民道路", due, amount_yuan=Decimal(1000 * (1 + b % 5)))
        self.commitments.append(commitment)
        self._collect(commitment)

    def _on_commitment(self, a: int, who: str, act: str, backdate: int, *args: Any,
                       states: tuple[str, ...] = ()) -> None:
        c = self._pick(self.commitments, a, *states)
        org = c.maker_id if who == "maker" else c.beneficiary_id
        getattr(c, act)(self.by(self.org_actor(org), backdate), *args)
        self._collect(c)

    def _publicise(self, a, b, backdate):
        self._on_commitment(a, "maker", "publicise", 0, "村务公开栏", local_date(self.now),
                            states=("draft",))

    def _extend(self, a, b, backdate):
        c = self._pick(self.commitments, a, "public")
        self._on_commitment(a, "maker", "extend_deadline", 0, c.due_on + timedelta(days=15 + b),
                            "天气原因", states=("public",))

    def _claim_fulfilment(self, a, b, backdate):
        self._on_commitment(a, "maker", "claim_fulfilment", 0, states=("public", "overdue"))

    def _confirm_fulfilment(self, a, b, backdate):
        self._on_commitment(a, "beneficiary", "confirm_fulfilment", 0, states=("claimed",))

    def _dispute(self, a, b, backdate):
        self._on_commitment(a, "beneficiary", "dispute_fulfilment", 0, "未完成",
                            states=("claimed",))

    def _abandon(self, a, b, backdate):
        self._on_commitment(a, "maker", "abandon", 0, "资金未到位", True,
                            states=("public", "overdue"))

    def _need(self, a, b, backdate):
        village = self._pick(self.villages, a)
        task = ServiceTask.raise_need(self.by(self.org_actor(village)), village,
                                      ("infrastructure", "education", "health")[b % 3], "需求")
        self.tasks.append(task)
        self._collect(task)

    def _on_task(self, a: int, who: str, act: str, backdate: int, *args: Any,
                 states: tuple[str, ...] = ()) -> ServiceTask:
        t = self._pick(self.tasks, a, *states)
        org = t.receiver_id if who == "receiver" else t.claimer_id
        if org is None:
            raise DomainError("not claimed")
        getattr(t, act)(self.by(self.org_actor(org), backdate), *args)
        self._collect(t)
        return t

    def _claim_task(self, a, b, backdate):
        waiting = [t for t in self.tasks if t.state in ("open", "pooled")]
        served = [t for t in waiting if any(p.receiver_id == t.receiver_id
                                            and p.state == "in_force" for p in self.pairings)]
        t = self._pick(served if served and b % 3 else waiting, a)
        partners = [p.giver_id for p in self.pairings
                    if p.receiver_id == t.receiver_id and p.state == "in_force"]
        giver = self._pick(partners if partners and b % 3 else self.givers, b)
        paired = giver in partners
        t.claim(self.by(self.org_actor(giver)), giver, paired)
        self._collect(t)

    def _pool(self, a, b, backdate):
        t = self._pick(self.tasks, a, "open")
        t.pool(self.by(SYSTEM), local_date(self.now), 1)
        self._collect(t)

    def _plan(self, a, b, backdate):
        self._on_task(a, "claimer", "plan", 0, local_date(self.now) + timedelta(days=30),
                      states=("claimed",))

    def _deliver(self, a, b, backdate):
        t = self._pick(self.tasks, a, "planned")
        delivered = max(self.now - timedelta(days=backdate % 20), t.raised_at)
        self._on_task(a, "claimer", "report_delivery", 0, delivered, Decimal(500),
                      states=("planned",))

    def _confirm_delivery(self, a, b, backdate):
        self._on_task(a, "receiver", "confirm_delivery", 0, states=("delivered",))

    def _reject(self, a, b, backdate):
        self._on_task(a, "receiver", "reject_delivery", 0, "质量不合格", states=("delivered",))

    def _rate(self, a, b, backdate):
        self._on_task(a, "receiver", "rate_satisfaction", 0,
                      ("satisfied", "basically_satisfied", "dissatisfied")[b % 3],
                      states=("confirmed",))


def play(world: World, steps: Iterable[tuple[str, int, int, int, int]]) -> None:
    for op, a, b, gap, backdate in steps:
        world.advance(gap)
        world.step(op, a, b, backdate)
