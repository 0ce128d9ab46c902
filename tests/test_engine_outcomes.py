"""Commitments and service tasks through the engine: two facts by two parties."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.base import SYSTEM
from domain.errors import InvalidValue, NotPermitted, WrongState
from workflows.errors import Forbidden


def test_commitment_made_fulfilled_and_confirmed_by_the_beneficiary(engine, cast, clock):
    p = cast.pairing_in_force()
    c = engine.make_commitment(cast.agency, p, "giver", "funds", "捐建村文化礼堂", date(2025, 9, 30),
                               amount_yuan=Decimal("50000.00"))
    engine.publicise_commitment(cast.agency, c.id, "村务公开栏", engine.today())
    clock.advance(days=30)
    engine.report_commitment_progress(cast.agency, c.id, "资金已拨付一半", amount_yuan=Decimal("25000"))
    engine.claim_fulfilment(cast.agency, c.id, note="礼堂已建成")
    with pytest.raises(NotPermitted):
        engine.confirm_fulfilment(cast.agency, c.id)
    clock.advance(days=1)
    assert engine.confirm_fulfilment(cast.villager, c.id).state == "fulfilled"
    assert engine.evaluate_commitment(cast.supervisor, c.id, "kept").state == "evaluated"


def test_commitment_needs_a_pairing_in_force(engine, cast):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    with pytest.raises(WrongState, match="pairing is proposed"):
        engine.make_commitment(cast.agency, p.id, "giver", "talent", "派驻技术员", date(2025, 6, 1),
                               quantity=Decimal("2"), unit="人")


def test_village_commits_too_and_the_agency_confirms(engine, cast):
    p = cast.pairing_in_force()
    c = engine.make_commitment(cast.villager, p, "receiver", "other", "提供研学基地", date(2025, 12, 1),
                               quantity=Decimal("1"), unit="处")
    engine.publicise_commitment(cast.villager, c.id, "党员大会", engine.today())
    engine.claim_fulfilment(cast.villager, c.id)
    assert engine.confirm_fulfilment(cast.agency, c.id).state == "fulfilled"


def test_overdue_is_the_workflow_s_to_record(engine, cast, clock):
    p = cast.pairing_in_force()
    c = engine.make_commitment(cast.agency, p, "giver", "project", "修路", date(2025, 4, 1),
                               quantity=Decimal("1"), unit="条")
    engine.publicise_commitment(cast.agency, c.id, "公示栏", engine.today())
    with pytest.raises(Forbidden):
        engine.mark_commitment_overdue(cast.admin, c.id)
    with pytest.raises(InvalidValue):
        engine.mark_commitment_overdue(SYSTEM, c.id)
    clock.advance(days=40)
    assert engine.mark_commitment_overdue(SYSTEM, c.id).state == "overdue"


def test_need_claimed_by_a_partner_delivered_rejected_redelivered_confirmed(engine, cast, clock):
    p = cast.pairing_in_force()
    t = engine.raise_need(cast.villager, cast.village, "skills_training", "茶叶种植技术培训")
    with pytest.raises(Forbidden):  # not paired: it sees the need only once pooled
        engine.claim_task(cast.agency2, t.id, cast.giver2)
    engine.claim_task(cast.agency, t.id, cast.giver)
    engine.plan_task(cast.agency, t.id, date(2025, 5, 1), Decimal("3000"))
    clock.advance(days=10)
    engine.report_delivery(cast.agency, t.id, clock.now() - timedelta(hours=2), Decimal("2800"))
    with pytest.raises(NotPermitted):
        engine.confirm_delivery(cast.agency, t.id)
    engine.reject_delivery(cast.villager, t.id, "培训人数不足")
    clock.advance(days=5)
    engine.report_delivery(cast.agency, t.id, clock.now() - timedelta(hours=1))
    assert engine.confirm_delivery(cast.villager, t.id).state == "confirmed"
    engine.rate_task(cast.villager, t.id, "satisfied", "很实用")
    assert engine.close_task(cast.villager, t.id).state == "closed"
    assert p


def test_pooled_need_can_be_claimed_by_any_giver(engine, cast, clock):
    t = engine.raise_need(cast.villager, cast.village, "infrastructure", "村道路灯")
    clock.advance(days=31)
    engine.pool_need(SYSTEM, t.id, 30)
    assert engine.claim_task(cast.agency2, t.id, cast.giver2).state == "claimed"


def test_a_supervisor_confirms_for_the_village_but_an_agency_never_for_the_village(engine, cast):
    cast.pairing_in_force()
    t = engine.raise_need(cast.villager, cast.village, "skills_training", "电商培训")
    engine.claim_task(cast.agency, t.id, cast.giver)
    engine.plan_task(cast.agency, t.id, date(2025, 6, 1))
    engine.report_delivery(cast.agency, t.id, engine.clock.now())
    with pytest.raises(Forbidden):
        engine.confirm_delivery(cast.agency, t.id, on_behalf_of=cast.village)
    assert engine.confirm_delivery(cast.supervisor, t.id, on_behalf_of=cast.village).state == "confirmed"


def test_an_unrelated_village_cannot_touch_a_task(engine, cast):
    t = engine.raise_need(cast.villager, cast.village, "infrastructure", "修桥")
    with pytest.raises(Forbidden):
        engine.cancel_task(cast.villager2, t.id, "x")
    assert engine.cancel_task(cast.villager, t.id, "已由财政解决").state == "cancelled"
