"""``cobuild demo``: the twelve months up to today, and what today's default reports show
(issue #14: "the demo looks broken").

The demo is played against a fixed "today" (its clock injected) on two dates of different
calendar years, one late in a year (the annual rules R3/R4 are live) and one a leap day;
the reports are read through the projections as ``cobuild report`` reads them.  The last
test runs the real command on the real today.
"""
from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from click.testing import CliRunner

from api.cli.main import cli
from domain.base import Actor
from domain.commitment import PublicCommitment
from domain.organisation import Organisation
from domain.pairing import Pairing
from domain.pairing_rules import Thresholds
from projections.reports import (
    Window, commitments_report, evaluation_report, followups_report, inactive_report,
    pairings_report, tasks_report,
)
from projections.runner import open_runner
from tests.support import fresh_settings
from workflows.demo import StoreInUse, play_demo_year
from workflows.engine import open_engine
from workflows.store.clock import LOCAL_TZ, FakeClock, SystemClock, local_date
from workflows.store.settings import Settings

# What the status board shows today, by giving organisation: the status and the rules that
# put it there (every other pairing in force shows no rule at all).
INTENDED = {
    "遂昌县财政局机关党委": ("active", set()),
    "国网遂昌县供电公司党委": ("active", set()),
    "遂昌县人民医院党委": ("active", set()),
    "遂昌中学党总支": ("active", set()),
    "遂昌县电商协会党支部": ("active", set()),
    "松阳县委组织部机关党支部": ("active", set()),
    "松阳县农商银行党委": ("active", set()),
    "遂昌县农业农村局机关党委": ("paired_but_inactive", {"R2"}),   # quiet for ~5 months
    "松阳县文广旅体局机关党委": ("paired_but_inactive", {"R2"}),   # quiet for ~7 months
    "中国移动松阳分公司党支部": ("paired_but_inactive", {"R1"}),   # signed, nothing since
    "松阳县教育局机关党委": ("slow", {"R5"}),                      # a commitment overdue
    "松阳县社会工作协会党支部": ("declined", set()),
}
FOLLOW_UP_RULES = {"R1", "R2", "R5"}


@pytest.fixture(scope="module", params=[
    datetime(2026, 11, 20, 12, 0, tzinfo=LOCAL_TZ),
    datetime(2028, 2, 29, 8, 30, tzinfo=LOCAL_TZ),
], ids=lambda now: now.date().isoformat())
def demo(request, tmp_path_factory):
    """The demo played up to ``now``, and its projections caught up."""
    now = request.param
    with fresh_settings(tmp_path_factory.mktemp("demo"),
                        os.environ.get("COBUILD_TEST_DATABASE_URL", "")) as settings:
        summary = play_demo_year(settings, FakeClock(now))
        engine = open_engine(settings, FakeClock(now))
        runner = open_runner(engine, settings)
        runner.catch_up()
        rules = Thresholds.from_published(engine.current_rules())
        try:
            yield now, summary, engine, runner.db, rules
        finally:
            engine.close()


def board(db, rules, today: date) -> dict[str, dict]:
    items = pairings_report(db, Window(today), rules, limit=100)["items"]
    return {item["giver_name"]: item for item in items}


def shown(item: dict) -> tuple[str, set[str]]:
    return item["status"], {hit["rule"] for hit in item["rule_hits"]} & FOLLOW_UP_RULES


def test_todays_board_shows_the_intended_mix(demo):
    now, _, _, db, rules = demo
    today = local_date(now)
    items = board(db, rules, today)
    assert {giver: shown(item) for giver, item in items.items()} == INTENDED
    for giver, (status, _) in INTENDED.items():
        if status == "active":  # no warning of any kind on a working pairing
            assert items[giver]["rule_hits"] == [], giver
            assert today - date.fromisoformat(items[giver]["last_activity_on"]) < timedelta(days=60)
    quiet = {hit["severity"] for g in ("遂昌县农业农村局机关党委", "松阳县文广旅体局机关党委")
             for hit in items[g]["rule_hits"] if hit["rule"] == "R2"}
    assert quiet == {"warning", "red"}
    listed = inactive_report(db, Window(today), rules, limit=100)["items"]
    assert sorted(i["giver_name"] for i in listed) == sorted(
        g for g, (_, hit) in INTENDED.items() if hit)


def test_nothing_is_backfilled(demo):
    """Every fact is recorded on the day it happened: no 补录 anywhere, and nothing is
    recorded after the demo's now or before its year."""
    now, _, engine, db, rules = demo
    today = local_date(now)
    assert all(item["backfilled_activities"] == 0 for item in board(db, rules, today).values())
    assert not any(c["backfilled"] for c in commitments_report(db, Window(today))["items"])
    assert not any(t["backfilled"] for t in tasks_report(db, Window(today))["items"])
    events = [engine.mapper.to_domain_event(n)
              for n in engine.recorder.select_notifications(start=1, limit=100000)]
    assert len(events) > 500
    assert all(now - timedelta(days=366) <= e.timestamp <= now for e in events)
    assert all(local_date(e.timestamp) == local_date(e.occurred_at)
               for e in events if hasattr(e, "occurred_at"))


def test_an_overdue_commitment_a_rejected_delivery_and_a_pooled_need(demo):
    now, _, _, db, _ = demo
    today = local_date(now)
    commitments = commitments_report(db, Window(today))["items"]
    overdue = [c for c in commitments if c["state"] == "overdue"]
    assert [c["maker_name"] for c in overdue] == ["松阳县教育局机关党委"]
    assert overdue[0]["days_overdue"] > 30
    assert {c["state"] for c in commitments} >= {"fulfilled", "public", "overdue"}
    tasks = tasks_report(db, Window(today))["items"]
    reworked = [(t["state"], t["rejections"]) for t in tasks if t["rejections"]]
    assert sorted(reworked) == [("closed", 1), ("planned", 1)]  # one redone, one being redone
    assert [t["state"] for t in tasks if t["claimer_id"] is None] == ["pooled"]


def test_the_workflow_acted_on_its_days(demo):
    """Timers fired as the clock moved: each follow-up case opened on the day its rule hit,
    and the commitment was marked overdue the day after its due date."""
    now, _, engine, db, rules = demo
    today = local_date(now)
    items = board(db, rules, today)
    cases = followups_report(db, Window(today))["items"]
    by_giver = {}
    for case in cases:
        giver = next(g for g, i in items.items() if i["giver_id"] == case["responsible_id"])
        by_giver[giver] = case
    assert {g: c["rule"] for g, c in by_giver.items()} == {
        g: next(iter(hit)) for g, (_, hit) in INTENDED.items() if hit}
    red = items["松阳县文广旅体局机关党委"]
    assert by_giver["松阳县文广旅体局机关党委"]["opened_on"] == (
        date.fromisoformat(red["last_activity_on"])
        + timedelta(days=rules.inactive_days)).isoformat()
    assert by_giver["松阳县文广旅体局机关党委"]["state"] == "responded"
    stuck = items["中国移动松阳分公司党支部"]
    assert by_giver["中国移动松阳分公司党支部"]["opened_on"] == (
        date.fromisoformat(stuck["in_force_on"])
        + timedelta(days=rules.stuck_at_signing_days)).isoformat()
    overdue = next(c for c in commitments_report(db, Window(today))["items"]
                   if c["state"] == "overdue")
    marked = engine.load(PublicCommitment, UUID(overdue["id"]))
    assert marked.marked_overdue_on == date.fromisoformat(overdue["due_on"]) + timedelta(days=1)


def test_record_quality_counts_for_the_demo_year(demo):
    """台账质量 (record quality) is no longer 0 for everyone: every pairing with co-signed
    activities in the year scores it in full, since nothing was entered late."""
    now, _, _, db, rules = demo
    year = (local_date(now) - timedelta(days=182)).year
    report = evaluation_report(db, year, Window(date(year, 12, 31)), rules)
    with_activities = [i for i in report["items"] if i["indicators"]["cosigned_activities"]]
    assert len(with_activities) >= 9
    assert all(i["points"]["records"] == rules.weight_records for i in with_activities)
    assert sum(o["points"]["records"] > 0 for o in report["organisations"]) >= 18


def test_the_demo_names_its_counties_and_townships(demo):
    from projections.reports import child_regions, find_organisations

    _, summary, _, db, _ = demo
    assert [t["name"] for t in child_regions(db, "331123", "township")] == [
        "妙高街道", "大柘镇", "金竹镇", "北界镇", "湖山乡", "高坪乡"]
    assert [c["name"] for c in child_regions(db, "3311", "county")] == ["遂昌县", "松阳县"]
    found = {o["name"]: o.get("region_name") for o in find_organisations(db, limit=100)["items"]}
    assert found["大柘镇黄岩村党支部"] == "大柘镇" and found["遂昌县财政局机关党委"] == "遂昌县"
    assert "  登记名称的区划：16" in summary


def test_the_summary_names_the_played_months(demo):
    now, summary, _, _, _ = demo
    today = local_date(now)
    assert f"{(today - timedelta(days=365)).isoformat()} 至 {today.isoformat()}" in summary[0]
    assert "  工作流开出的督办案件：4" in summary and "  被退回的交付：2" in summary


# -- the command, on the real today ----------------------------------------------------------

def test_the_demo_on_the_real_today_and_a_second_run_refused(tmp_path, monkeypatch):
    """``cobuild init``, ``cobuild demo``, ``cobuild report pairings`` with no date, as the
    README has a new user do: the same mix whatever the calendar says; a second ``cobuild
    demo`` refuses and writes nothing."""
    monkeypatch.setenv("COBUILD_HOME", str(tmp_path / "var"))
    monkeypatch.delenv("COBUILD_DATABASE_URL", raising=False)
    monkeypatch.delenv("COBUILD_BOOTSTRAP_TOKEN", raising=False)
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("init")
    before = SystemClock().now()
    played = run("demo")
    assert f"至 {local_date(before).isoformat()} 的十二个月" in played
    report = json.loads(run("report", "pairings", "--format", "json", "--limit", "100"))
    assert report["as_of"] == local_date(SystemClock().now()).isoformat()
    items = {item["giver_name"]: item for item in report["items"]}
    assert {giver: shown(item) for giver, item in items.items()} == INTENDED
    assert all(item["backfilled_activities"] == 0 for item in items.values())

    settings = Settings(home=tmp_path / "var")
    engine = open_engine(settings)
    try:
        head = engine.recorder.max_notification_id()
        latest = engine.mapper.to_domain_event(
            engine.recorder.select_notifications(start=head, limit=1)[0])
    finally:
        engine.close()
    assert latest.timestamp <= SystemClock().now()
    again = run("demo")
    assert "already loaded" in again
    engine = open_engine(settings)
    try:
        assert engine.recorder.max_notification_id() == head
    finally:
        engine.close()


def test_the_demo_refuses_a_store_with_records_of_its_own(settings):
    """The demo's worker would act on other records at the demo's played times: the demo
    plays only into a store that holds nothing but accounts, and otherwise writes nothing."""
    now = datetime(2026, 11, 20, 12, 0, tzinfo=LOCAL_TZ)
    engine = open_engine(settings, FakeClock(now))
    try:
        engine.bootstrap_admin()
        engine.register_organisation(Actor(user_id="operator", role="admin", region_code=""),
                                     "V1", "石练村党支部", "village", "331123001201")
        head = engine.recorder.max_notification_id()
    finally:
        engine.close()
    with pytest.raises(StoreInUse, match="already holds records; nothing was written"):
        play_demo_year(settings, FakeClock(now))
    engine = open_engine(settings)
    try:
        assert engine.recorder.max_notification_id() == head
    finally:
        engine.close()


def test_recorded_time_is_the_engines_clock(settings):
    """The mechanism the demo relies on: every event the engine saves is stamped with the
    engine's clock at saving, alone or in a batch, whatever the wall clock says; business
    time entered late stays apart from it."""
    start = datetime(2024, 6, 1, 2, 0, tzinfo=timezone.utc)
    clock = FakeClock(start)
    engine = open_engine(settings, clock)
    admin = Actor(user_id="operator", role="admin", region_code="")
    try:
        village = engine.register_organisation(admin, "V1", "石练村党支部", "village", "331123001201")
        giver = engine.register_organisation(admin, "G1", "县财政局机关党委", "agency", "331123000000")
        clock.advance(days=3)
        with engine.batch():
            engine.report_collective_income(admin, village.id, 2023, Decimal("26000"))
            engine.rename_organisation(admin, village.id, "妙高街道石练村党支部")
        clock.advance(days=40)
        pairing = engine.propose_pairing(admin, giver.id, village.id, date(2024, 5, 1),
                                         date(2026, 12, 31),
                                         occurred_at=clock.now() - timedelta(days=35))
        stored = list(engine.repository.event_store.get(village.id))
        assert [e.timestamp for e in stored] == [start, start + timedelta(days=3),
                                                 start + timedelta(days=3)]
        assert engine.load(Organisation, village.id).modified_on == start + timedelta(days=3)
        proposed = list(engine.repository.event_store.get(pairing.id))
        assert [e.timestamp for e in proposed] == [start + timedelta(days=43)]
        assert engine.load(Pairing, pairing.id).proposed_at == proposed[0].occurred_at
        assert (proposed[0].timestamp - proposed[0].occurred_at).days == 35  # backfill shows
    finally:
        engine.close()
