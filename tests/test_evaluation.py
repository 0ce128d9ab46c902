"""Evaluation rounds (docs/domain.md) through the engine: lifecycle, refusals, reproducibility,
and the publicity period ended by the worker on the fake clock."""
from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from domain.errors import Duplicate, InvalidValue, NotPermitted, WrongState
from domain.evaluation import EvaluationRound
from projections.evaluations import ProjectionScorer
from projections.reports import Window, evaluation_report
from domain.pairing_rules import Thresholds
from projections.runner import open_runner
from tests.support import COUNTY
from tests.workflow_support import cosigned_activity
from workflows.errors import Forbidden, NotFound
from workflows.scheduler import Worker, open_worker_state

GOOD = {"ideology": 90, "mechanism": 85, "teamwork": 95, "results": 80, "response": 88}


@pytest.fixture
def scorer(engine, settings):
    runner = open_runner(engine, settings)
    yield ProjectionScorer(runner)
    runner.db.close()


@pytest.fixture
def year(engine, cast, clock):
    """Two pairings in force since 2025-03-01, one with co-signed activities."""
    a = cast.pairing_in_force()
    b = cast.pairing_in_force(giver=(cast.agency2, cast.giver2),
                              village=(cast.villager2, cast.village2))
    clock.advance(days=10)
    cosigned_activity(engine, cast.agency, cast.villager, a, "主题党日")
    clock.advance(days=100)
    cosigned_activity(engine, cast.villager, cast.agency, a, "联合组织生活")
    clock.advance(days=100)
    return a, b


def opened(engine, cast) -> EvaluationRound:
    out = engine.open_evaluation(cast.admin, 2025, COUNTY)
    return engine.load(EvaluationRound, out.id)


def test_a_round_from_opening_to_final_grades(engine, cast, clock, settings, scorer, year):
    a, b = year
    r = opened(engine, cast)
    assert (r.id, r.state, r.rule_set_version) == (EvaluationRound.create_id(COUNTY, 2025), "open", 0)
    engine.submit_joint_rating(cast.agency, r.id, a, GOOD)
    engine.submit_joint_rating(cast.villager, r.id, a, {**GOOD, "results": 70})
    engine.record_evaluation_satisfaction(cast.supervisor, r.id, a, {
        "satisfied": 30, "basically_satisfied": 10, "dissatisfied": 0, "unknown": 5})
    computed = engine.compute_evaluation(cast.evaluator, r.id, scorer)
    assert (computed.state, computed.details) == ("computed", {"pairings": 2, "organisations": 4})

    snapshot = engine.load(EvaluationRound, r.id).snapshot
    items = {i["pairing_id"]: i for i in snapshot["pairings"]}
    pa = items[str(a)]
    assert pa["indicators"]["survey"]["unknown"] == 5
    assert pa["points"]["response"] == round(20 * (30 * 100 + 10 * 75) / 40 / 100, 2)
    assert pa["indicators"]["joint_ratings"] == {"giver": GOOD, "receiver": {**GOOD, "results": 70}}
    assert pa["total"] == round(sum(pa["points"].values()), 2)
    assert items[str(b)]["points"]["response"] == 0.0   # no survey, no rated task
    giver = next(o for o in snapshot["organisations"] if o["organisation_id"] == str(cast.giver))
    assert giver["joint_rating_received"] == {**GOOD, "results": 70}
    assert snapshot["rule_set_version"] == 0 and snapshot["as_of"] == engine.today().isoformat()
    text = json.dumps(snapshot)
    assert "rank" not in text and "position" not in text   # listed, never ranked

    published = engine.publicise_evaluation(cast.admin, r.id)
    assert published.details == {"from_on": "2025-09-27", "until": "2025-10-03"}
    objection = engine.raise_evaluation_objection(cast.villager2, r.id, "活动台账漏记一次", pairing_id=b)
    engine.resolve_evaluation_objection(cast.evaluator, r.id, objection.details["objection_id"],
                                        "dismissed", "台账经核实无误")
    worker = Worker(engine, open_worker_state(settings))
    worker.drain()
    clock.advance(days=7)
    assert worker.drain().effects == {"publicity ended": 1}
    final = engine.finalise_evaluation(cast.admin, r.id)
    r = engine.load(EvaluationRound, r.id)
    assert final.state == "finalised"
    assert r.grades["pairings"] == {i["pairing_id"]: i["grade"] for i in snapshot["pairings"]}
    assert set(r.grades["organisations"]) == {str(o) for o in (cast.giver, cast.giver2, cast.village, cast.village2)}


def test_who_may_do_what(engine, cast, scorer, year):
    a, b = year
    with pytest.raises(Forbidden):
        engine.open_evaluation(cast.evaluator, 2025, COUNTY)
    with pytest.raises(Forbidden):
        engine.open_evaluation(cast.outsider_supervisor, 2025, COUNTY)
    r = opened(engine, cast)
    with pytest.raises(Duplicate):
        engine.open_evaluation(cast.admin, 2025, COUNTY)
    with pytest.raises(InvalidValue):
        engine.open_evaluation(cast.admin, 2026, COUNTY)
    with pytest.raises(Forbidden):     # an evaluator never writes a party's fact
        engine.submit_joint_rating(cast.evaluator, r.id, a, GOOD)
    with pytest.raises(NotPermitted):  # G2 is no party of A
        engine.submit_joint_rating(cast.agency2, r.id, a, GOOD)
    with pytest.raises(InvalidValue):
        engine.submit_joint_rating(cast.agency, r.id, a, {**GOOD, "results": 101})
    engine.submit_joint_rating(cast.agency, r.id, a, GOOD)
    with pytest.raises(Duplicate):
        engine.submit_joint_rating(cast.agency, r.id, a, GOOD)
    with pytest.raises(Forbidden):
        engine.record_evaluation_satisfaction(cast.outsider_supervisor, r.id, a, {"satisfied": 3})
    with pytest.raises(Forbidden):
        engine.record_evaluation_satisfaction(cast.agency, r.id, a, {"satisfied": 3})
    with pytest.raises(InvalidValue):
        engine.record_evaluation_satisfaction(cast.supervisor, r.id, a, {"unknown": 0})
    with pytest.raises(Forbidden):
        engine.compute_evaluation(cast.agency, r.id, scorer)
    with pytest.raises(WrongState):
        engine.publicise_evaluation(cast.admin, r.id)
    engine.compute_evaluation(cast.evaluator, r.id, scorer)
    with pytest.raises(Forbidden):
        engine.publicise_evaluation(cast.evaluator, r.id)
    with pytest.raises(WrongState):    # objections only while publicised
        engine.raise_evaluation_objection(cast.villager, r.id, "分数有误")
    engine.publicise_evaluation(cast.admin, r.id)
    with pytest.raises(WrongState):    # before the publicity period has ended
        engine.finalise_evaluation(cast.admin, r.id)
    with pytest.raises(Forbidden):
        engine.finalise_evaluation(cast.evaluator, r.id)
    with pytest.raises(NotPermitted):  # V2 objects about a pairing that is not its own
        engine.raise_evaluation_objection(cast.villager2, r.id, "分数有误", pairing_id=a)
    with pytest.raises(Forbidden):
        engine.raise_evaluation_objection(cast.evaluator, r.id, "分数有误")
    with pytest.raises(WrongState):
        engine.compute_evaluation(cast.evaluator, r.id, scorer)
    with pytest.raises(NotFound):
        engine.evaluation_round_of(COUNTY, 2024)


def test_a_computed_round_does_not_move_when_more_is_recorded(engine, cast, clock, scorer, year):
    a, b = year
    r = opened(engine, cast)
    engine.compute_evaluation(cast.evaluator, r.id, scorer)
    frozen = engine.load(EvaluationRound, r.id).snapshot
    assert len(frozen["pairings"]) == 2
    engine.publicise_evaluation(cast.admin, r.id)

    cosigned_activity(engine, cast.agency2, cast.villager2, b, "结对走访")
    cosigned_activity(engine, cast.agency2, cast.villager2, b, "联合组织生活")
    engine.publish_rules(cast.admin, {"weights": {"teamwork": 25, "record_quality": 0}})
    clock.advance(days=30)
    assert engine.load(EvaluationRound, r.id).snapshot == frozen
    with pytest.raises(WrongState):
        engine.compute_evaluation(cast.admin, r.id, scorer)

    # The same window over the same rule set reads the same facts; today's differs.
    rules = Thresholds.from_published(engine.rules_version(0))
    then = evaluation_report(scorer.runner.db, 2025, Window(
        date.fromisoformat(frozen["as_of"]), _instant(frozen["known_at"])), rules, region=COUNTY)
    assert [(i["pairing_id"], i["points"], i["indicators"]) for i in then["items"]] == \
        [(i["pairing_id"], i["points"], _without_round_inputs(i["indicators"])) for i in frozen["pairings"]]
    scorer.runner.catch_up()
    now = evaluation_report(scorer.runner.db, 2025, Window(engine.today()), rules, region=COUNTY)
    assert [i["points"] for i in now["items"]] != [i["points"] for i in frozen["pairings"]]


def test_an_upheld_objection_reopens_the_round_and_cancels_the_publicity_timer(
        engine, cast, clock, settings, scorer, year):
    a, _ = year
    r = opened(engine, cast)
    engine.compute_evaluation(cast.admin, r.id, scorer)
    engine.publicise_evaluation(cast.admin, r.id, days=3)
    worker = Worker(engine, open_worker_state(settings))
    worker.drain()
    clock.advance(days=2)
    objection = engine.raise_evaluation_objection(cast.villager, r.id, "满意度调查漏报", pairing_id=a)
    engine.resolve_evaluation_objection(cast.admin, r.id, objection.details["objection_id"],
                                        "upheld", "补录满意度后重新计分")
    worker.drain()
    clock.advance(days=5)
    assert worker.drain().fired == 0
    r = engine.load(EvaluationRound, r.id)
    assert (r.state, r.publicity) == ("open", None)
    engine.record_evaluation_satisfaction(cast.supervisor, r.id, a, {"satisfied": 12, "unknown": 1})
    engine.compute_evaluation(cast.evaluator, r.id, scorer)
    engine.publicise_evaluation(cast.admin, r.id)
    worker.drain()
    clock.advance(days=6)
    assert worker.drain().fired == 0
    with pytest.raises(WrongState):
        engine.finalise_evaluation(cast.admin, r.id)
    clock.advance(days=1)
    assert worker.drain().effects == {"publicity ended": 1}
    assert engine.finalise_evaluation(cast.admin, r.id).state == "finalised"


def test_finalising_waits_for_every_objection(engine, cast, clock, settings, scorer, year):
    a, _ = year
    r = opened(engine, cast)
    engine.compute_evaluation(cast.admin, r.id, scorer)
    engine.publicise_evaluation(cast.admin, r.id)
    objection = engine.raise_evaluation_objection(cast.supervisor, r.id, "村里反映分数偏低",
                                                  on_behalf_of=cast.village)
    worker = Worker(engine, open_worker_state(settings))
    clock.advance(days=7)
    worker.drain()
    with pytest.raises(WrongState):
        engine.raise_evaluation_objection(cast.villager, r.id, "公示期满后才提出")
    with pytest.raises(NotPermitted):
        engine.finalise_evaluation(cast.admin, r.id)
    engine.resolve_evaluation_objection(cast.evaluator, r.id, objection.details["objection_id"],
                                        "dismissed", "经核实分数无误")
    assert engine.finalise_evaluation(cast.admin, r.id).state == "finalised"
    assert engine.evaluation_round(cast.villager, r.id).grades is not None
    with pytest.raises(Forbidden):
        engine.evaluation_round(cast.outsider_supervisor, r.id)


def _instant(text):
    return datetime.fromisoformat(text)


def _without_round_inputs(indicators):
    return {k: v for k, v in indicators.items() if k not in ("survey", "joint_ratings")}


def test_the_round_id_is_one_per_region_and_year():
    assert EvaluationRound.create_id(COUNTY, 2025) == EvaluationRound.create_id(COUNTY, 2025)
    assert EvaluationRound.create_id(COUNTY, 2025) != EvaluationRound.create_id(COUNTY, 2024)
    assert EvaluationRound.create_id(COUNTY, 2025) != EvaluationRound.create_id("3311", 2025)
