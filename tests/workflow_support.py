"""A year of pairings, commitments and tasks, driven by the fake clock, for the workflow tests.

Commitments and tasks are made through their aggregates and the engine's ``commit`` (their
engine commands are not the workflow's); everything else goes through engine commands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID

from domain.base import Actor
from domain.commitment import PublicCommitment
from domain.pairing import Pairing
from domain.task import ServiceTask
from tests.support import Cast
from workflows.store.clock import FakeClock
from workflows.engine import Engine

START = date(2025, 3, 1)  # the conftest clock's local date


def on(day: int) -> date:
    return START + timedelta(days=day)


def make_commitment(e: Engine, actor: Actor, pairing_id: UUID, content: str, due_on: date,
                    made_by: str = "giver") -> UUID:
    pairing = e.load(Pairing, pairing_id)
    c = PublicCommitment.make(e.attribution(actor), pairing_id, pairing.giver_id,
                              pairing.receiver_id, made_by, "funds", content, due_on,
                              amount_yuan=Decimal("50000.00"))
    c.publicise(e.attribution(actor), "村务公开栏", e.today())
    e.commit(c)
    return c.id


def act(e: Engine, cls: type, aggregate_id: UUID, actor: Actor, command: str,
        *args: Any, **kwargs: Any) -> None:
    aggregate = e.load(cls, aggregate_id)
    getattr(aggregate, command)(e.attribution(actor), *args, **kwargs)
    e.commit(aggregate)


def raise_need(e: Engine, actor: Actor, receiver_id: UUID, title: str) -> UUID:
    t = ServiceTask.raise_need(e.attribution(actor), receiver_id, "infrastructure", title)
    e.commit(t)
    return t.id


def cosigned_activity(e: Engine, recorder: Actor, cosigner: Actor, pairing_id: UUID,
                      title: str) -> None:
    activity = e.record_activity(recorder, pairing_id, "joint_org_life", title, e.clock.now())
    e.cosign_activity(cosigner, pairing_id, activity.details["activity_id"])


@dataclass
class Year:
    """The scenario's ids, filled in as the year is played."""

    cast: Cast
    ids: dict[str, UUID] = field(default_factory=dict)


def play_year(engine: Engine, clock: FakeClock, drain: Callable[[], None],
              days: int = 365) -> Year:
    """Play the year one day at a time; ``drain`` runs the worker after each day's acts.

    Pairings: A = G1–V1 (active, slips and recovers), B = G2–V2 (never active until day 200),
    C = G1–V2 (term ends 2025-12-31, never active).
    """
    cast = Cast.create(engine)
    e, year = engine, Year(cast)
    ids = year.ids
    ids["A"] = cast.pairing_in_force()
    ids["B"] = cast.pairing_in_force(giver=(cast.agency2, cast.giver2),
                                     village=(cast.villager2, cast.village2))
    p = e.propose_pairing(cast.agency, cast.giver, cast.village2, date(2025, 1, 1), date(2025, 12, 31))
    e.accept_pairing(cast.villager2, p.id)
    e.sign_agreement(cast.agency, p.id, e.today())
    e.sign_agreement(cast.villager2, p.id, e.today())
    ids["C"] = p.id
    drain()

    def plan() -> dict[int, list[Callable[[], None]]]:
        A, B = ids["A"], ids["B"]
        return {
            5: [lambda: cosigned_activity(e, cast.agency, cast.villager, A, "主题党日"),
                lambda: ids.__setitem__("t1", raise_need(e, cast.villager, cast.village, "修缮村道"))],
            6: [lambda: ids.__setitem__("c1", make_commitment(e, cast.agency, A, "资助村级活动阵地", on(60))),
                lambda: ids.__setitem__("c2", make_commitment(e, cast.agency, A, "引进农技培训", on(100)))],
            40: [lambda: act(e, ServiceTask, ids["t1"], cast.agency, "claim", cast.giver, True),
                 lambda: act(e, ServiceTask, ids["t1"], cast.agency, "plan", on(80))],
            55: [lambda: act(e, PublicCommitment, ids["c1"], cast.agency, "claim_fulfilment", "已拨付")],
            56: [lambda: act(e, PublicCommitment, ids["c1"], cast.villager, "confirm_fulfilment")],
            78: [lambda: act(e, ServiceTask, ids["t1"], cast.agency, "report_delivery", e.clock.now())],
            95: [lambda: e.respond_followup(cast.agency2, open_case(e, B, "R2"), "已安排走访计划")],
            100: [lambda: act(e, ServiceTask, ids["t1"], cast.villager, "confirm_delivery")],
            140: [lambda: act(e, PublicCommitment, ids["c2"], cast.agency, "claim_fulfilment", "培训已完成")],
            141: [lambda: act(e, PublicCommitment, ids["c2"], cast.villager, "confirm_fulfilment")],
            150: [lambda: e.publish_rules(cast.admin, {"r2_inactive_days": 60}, "缩短联而不动期限")],
            200: [lambda: cosigned_activity(e, cast.agency2, cast.villager2, B, "结对走访")],
            250: [lambda: cosigned_activity(e, cast.villager, cast.agency, A, "联合组织生活")],
        }

    actions = plan()
    for day in range(1, days + 1):
        clock.advance(days=1)
        for action in actions.get(day, []):
            action()
        drain()
    return year


def open_case(e: Engine, pairing_id: UUID, rule: str) -> UUID:
    from domain.followup import FollowUpCase

    pairing = e.load(Pairing, pairing_id)
    return FollowUpCase.create_id(pairing_id, rule, pairing.flags[rule]["since"].isoformat())


_DIGEST = re.compile(r"\b[0-9a-f]{64}\b")  # random tokens' digests
_ID = re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b")


def normalised_log(engine: Engine) -> list[tuple[str, int, str]]:
    """The event log with ids replaced by their order of first appearance and the recorded
    time dropped, so two runs with different random ids compare equal when they did the same."""
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        key = match.group(0).replace("-", "")
        return names.setdefault(key, f"#{len(names)}")

    out = []
    for n in engine.recorder.select_notifications(start=1, limit=1_000_000):
        event = engine.mapper.to_domain_event(n)
        data = {k: v for k, v in sorted(vars(event).items()) if k not in ("timestamp",)}
        text = _ID.sub(rename, _DIGEST.sub("<digest>", repr(data)))
        out.append((type(event).__qualname__, n.originator_version, text))
    return out


def events_of(engine: Engine, name: str) -> list[Any]:
    found = []
    for n in engine.recorder.select_notifications(start=1, limit=1_000_000):
        if n.topic.endswith(f".{name}"):
            found.append(engine.mapper.to_domain_event(n))
    return found
