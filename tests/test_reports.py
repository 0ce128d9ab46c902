"""Reports through the engine's own commands, and the two time axes with backfilled facts."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import openpyxl
from click.testing import CliRunner

from projections import export, reports
from projections.reports import Window
from projections.runner import ProjectionRunner, open_runner
from projections.store import ProjectionDatabase
from tests.projection_support import World
from tests.support import at
from workflows.store.clock import LOCAL_TZ


def _runner(engine, settings) -> ProjectionRunner:
    runner = open_runner(engine, settings)
    runner.catch_up()
    return runner


def _board(runner, as_of, known_at=None, **kw):
    return {i["pairing_id"]: i for i in reports.pairings_report(
        runner.db, Window(as_of, known_at), limit=1000, **kw)["items"]}


def test_contested_or_unanswered_activities_never_count(engine, cast, settings, clock):
    pairing = cast.pairing_in_force()
    recorded = engine.record_activity(cast.agency, pairing, "joint_org_life", "主题党日", at(2025, 2, 20))
    runner = _runner(engine, settings)
    assert [i["kind"] for i in reports.inbox_report(
        runner.db, Window(date(2025, 3, 1)), str(cast.village))["items"]] == ["cosign_activity"]
    engine.contest_activity(cast.villager, pairing, recorded.details["activity_id"], "未参加")
    runner.catch_up()
    item = _board(runner, date(2025, 3, 1))[str(pairing)]
    assert item["last_activity_on"] is None and item["cosigned_activities"] == 0
    assert reports.inbox_report(runner.db, Window(date(2025, 3, 1)), str(cast.village))["items"] == []
    # 60 days after coming into force with nothing co-signed: stuck at signing.
    late = _board(runner, date(2025, 4, 30))[str(pairing)]
    assert late["status"] == "paired_but_inactive"
    assert [h["rule"] for h in late["rule_hits"]] == ["R1"]

    clock.advance(days=1)
    visit = engine.record_activity(cast.villager, pairing, "visit", "回访", at(2025, 3, 2, 1))
    engine.cosign_activity(cast.agency, pairing, visit.details["activity_id"])
    runner.catch_up()
    item = _board(runner, date(2025, 4, 30))[str(pairing)]
    assert (item["status"], item["last_activity_on"], item["cosigned_activities"]) == \
        ("active", "2025-03-02", 1)


def test_backfilled_facts_are_seen_only_from_when_they_were_recorded(settings):
    from workflows.engine import open_engine

    engine = open_engine(settings)
    world = World(engine, givers=1, villages=1)
    world.now = datetime(2025, 6, 1, 2, tzinfo=timezone.utc)
    for op in ("propose", "accept", "sign", "sign"):
        assert world.step(op, 0, 0, 0)
    # A joint organisational life on 1 December, co-signed on 2 December, both entered on
    # 10 January (补台账).
    world.now = datetime(2026, 1, 10, 2, tzinfo=timezone.utc)
    assert world.step("activity", 0, 0, 40)
    world.now += timedelta(hours=1)
    assert world.step("cosign", 0, 0, 39)
    world.flush()
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    runner.catch_up()

    eve = date(2025, 12, 31)
    then = next(iter(_board(runner, eve, known_at=eve).values()))
    now = next(iter(_board(runner, eve).values()))
    assert then["last_activity_on"] is None and then["status"] == "paired_but_inactive"
    assert {h["rule"] for h in then["rule_hits"]} >= {"R2", "R3"}
    assert now["last_activity_on"] == "2025-12-01" and now["status"] == "active"
    assert now["backfilled_activities"] == 1
    # known_at as a moment: one second before the co-signature was recorded.
    cosigned_at = world.now.astimezone(LOCAL_TZ)
    before = next(iter(_board(runner, eve, known_at=cosigned_at - timedelta(seconds=1)).values()))
    assert before["last_activity_on"] is None
    engine.close()


def test_coverage_in_the_past_counts_each_pairing_as_it_stood(settings):
    """Coverage of a window counts the pairings nothing changed for since from their latest
    state, and the others exactly: here a signature dated after the day asked about, one
    entered after the moment asked about, and a term that ended without its closing event."""
    from workflows.engine import open_engine

    engine = open_engine(settings)
    world = World(engine, givers=4, villages=4)
    world.now = datetime(2025, 1, 10, 2, tzinfo=timezone.utc)
    for i in range(3):  # G0-V0 (a one-year term), G1-V1, G2-V2: in force from 10 January
        for op in ("propose", "accept", "sign", "sign"):
            assert world.step(op, i, i, 0)
    for op in ("propose", "accept", "sign"):  # G3-V3: one signature
        assert world.step(op, 3, 3, 0)
    world.now = datetime(2025, 7, 1, 2, tzinfo=timezone.utc)
    assert world.step("sign", 0, 0, 4)  # the other signature, dated 27 June
    world.flush()
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    runner.catch_up()

    def paired(as_of: date, known_at: datetime | None = None) -> tuple[int, int, list[str]]:
        w = Window(as_of, known_at)
        with reports.open_facts(runner.db) as facts:
            assert reports.unsettled_orgs(facts, w) is not None  # three settled, one not
        result = reports.coverage_report(runner.db, w)
        return (result["totals"]["villages_paired"], result["totals"]["agencies_paired"],
                [a["code"] for a in result["agencies_without_village"]])

    assert paired(date(2025, 6, 1)) == (3, 3, ["G3"])  # signed after 1 June
    assert paired(date(2025, 9, 30), datetime(2025, 6, 30, 4, tzinfo=timezone.utc)) == (3, 3, ["G3"])  # entered later
    assert paired(date(2025, 9, 30), datetime(2025, 7, 2, 4, tzinfo=timezone.utc)) == (4, 4, [])
    assert paired(date(2026, 2, 1)) == (3, 3, ["G0"])  # G0-V0's term ended on 10 January
    engine.close()


def test_coverage_of_weak_villages_and_agencies_without_a_village(engine, cast, settings):
    engine.report_collective_income(cast.admin, cast.village, 2024, Decimal("20000"))
    engine.report_collective_income(cast.admin, cast.village2, 2024, Decimal("12000"))
    # A corrected report for the same year replaces the first one.
    engine.report_collective_income(cast.admin, cast.village2, 2024, Decimal("30000"))
    cast.pairing_in_force()
    runner = _runner(engine, settings)
    result = reports.coverage_report(runner.db, Window(date(2025, 3, 1)), region="331123")
    assert result["totals"] | {} == {
        "region_code": "331123", "villages": 2, "villages_paired": 1,
        "villages_income_unknown": 0, "weak_villages": 1, "weak_villages_paired": 1,
        "agencies": 2, "agencies_paired": 1, "weak_coverage": 1.0}
    assert [r["region_code"] for r in result["items"]] == ["331123000", "331123101"]
    assert result["weak_without_pairing"] == []
    assert [a["code"] for a in result["agencies_without_village"]] == ["G2"]
    # Weak means below the threshold: one fen under it, V2 is weak and has no pairing.
    engine.report_collective_income(cast.admin, cast.village2, 2024, Decimal("29999.99"))
    runner.catch_up()
    after = reports.coverage_report(runner.db, Window(date(2025, 3, 1)))
    assert [v["code"] for v in after["weak_without_pairing"]] == ["V2"]
    assert after["totals"]["weak_coverage"] == 0.5


def test_ledger_pipeline_inbox_and_evaluation_from_confirmed_facts(engine, cast, settings, clock):
    pairing = cast.pairing_in_force()
    made = engine.make_commitment(cast.agency, pairing, "giver", "practical_matter", "硬化村道",
                                  date(2025, 5, 31), amount_yuan=Decimal("80000"))
    engine.publicise_commitment(cast.agency, made.id, "村务公开栏", date(2025, 3, 1))
    clock.advance(days=30)
    engine.claim_fulfilment(cast.agency, made.id)
    need = engine.raise_need(cast.villager, cast.village, "education", "图书室")
    engine.claim_task(cast.agency, need.id, cast.giver)
    engine.plan_task(cast.agency, need.id, date(2025, 6, 30))
    engine.report_delivery(cast.agency, need.id, clock.now())
    runner = _runner(engine, settings)
    day = date(2025, 3, 31)
    inbox = reports.inbox_report(runner.db, Window(day), str(cast.village))["items"]
    assert sorted(i["kind"] for i in inbox) == ["confirm_delivery", "confirm_fulfilment"]
    board = _board(runner, day)[str(pairing)]
    assert board["commitments"] == {"claimed": 1} and board["tasks"] == {"delivered": 1}
    assert "R9" in {h["rule"] for h in _board(runner, day + timedelta(days=15))[str(pairing)]["rule_hits"]}

    before = reports.evaluation_report(runner.db, 2025)["items"][0]
    engine.confirm_fulfilment(cast.villager, made.id)
    engine.confirm_delivery(cast.villager, need.id)
    engine.rate_task(cast.villager, need.id, "satisfied")
    runner.catch_up()
    ledger = reports.commitments_report(runner.db, Window(day))["items"]
    assert [(c["state"], c["kept_on_time"], c["fulfilled_on"]) for c in ledger] == \
        [("fulfilled", True, "2025-03-31")]
    pipeline = reports.tasks_report(runner.db, Window(day), organisation=str(cast.giver))["items"]
    assert [(t["state"], t["satisfaction"]) for t in pipeline] == [("rated", "satisfied")]
    after = reports.evaluation_report(runner.db, 2025)["items"][0]
    assert after["points"]["results"] > before["points"]["results"]
    assert after["points"]["response"] == 20.0 and before["points"]["response"] == 0.0
    assert after["indicators"]["commitments_kept_on_time"] == 1

    text = export.to_csv("commitments", reports.commitments_report(runner.db, Window(day)))
    header = next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    # People read names first; the ids that match rows back come last.
    assert header[:3] == ["承诺方", "受益方", "区划代码"] and "按期践诺" in header
    assert header[-1] == "承诺编号"
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx(
        "evaluation", reports.evaluation_report(runner.db, 2025))))
    assert book.sheetnames == ["结对考评", "组织考评"]
    assert book["结对考评"]["D2"].value == "工作机制好"  # row 1 is the title


def test_cli_reports_and_projection_commands(engine, cast, settings, monkeypatch, tmp_path):
    from api.cli.reports import projections, report

    cast.pairing_in_force()
    for name, value in settings.environ().items():  # the same store, SQLite or PostgreSQL
        monkeypatch.setenv(name, value)
    cli = CliRunner()
    out = cli.invoke(report, ["pairings", "--as-of", "2025-03-01", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert [i["status"] for i in json.loads(out.output)["items"]] == ["active"]
    out = cli.invoke(report, ["inbox", "--organisation", "V1", "--as-of", "2025-03-01"])
    assert out.exit_code == 0 and "待办事项" in out.output
    target = tmp_path / "coverage.xlsx"
    out = cli.invoke(report, ["coverage", "--format", "xlsx", "--output", str(target)])
    assert out.exit_code == 0 and openpyxl.load_workbook(target).sheetnames[0] == "覆盖情况"
    out = cli.invoke(report, ["pairings", "--known-at", "yesterday"])
    assert out.exit_code == 2 and "--known-at" in out.output
    assert "lag 0" in cli.invoke(projections, ["status"]).output
    assert "rebuilt as v2" in cli.invoke(projections, ["rebuild"]).output


def test_inactive_list_finds_hits_only_commitments_or_tasks_start(engine, cast, settings, clock):
    """R5 and R9 hits come from commitments and tasks alone (no activity rule hits in the
    first 60 days in force): the inactive list, which reads those only where a hit is
    possible, lists the pairing exactly when the board shows such a hit."""
    pairing = cast.pairing_in_force()
    made = engine.make_commitment(cast.agency, pairing, "giver", "practical_matter", "修缮广场",
                                  date(2025, 3, 10), amount_yuan=Decimal("5000"))
    engine.publicise_commitment(cast.agency, made.id, "村务公开栏", date(2025, 3, 1))
    need = engine.raise_need(cast.villager, cast.village, "education", "图书室")
    engine.claim_task(cast.agency, need.id, cast.giver)
    engine.plan_task(cast.agency, need.id, date(2025, 6, 30))
    engine.report_delivery(cast.agency, need.id, clock.now())
    runner = _runner(engine, settings)

    def listed(as_of):
        board = _board(runner, as_of)
        follow_up = [i for i in board.values() if any(h["severity"] != "info" for h in i["rule_hits"])]
        items = reports.inactive_report(runner.db, Window(as_of))["items"]
        assert items == follow_up
        return sorted(h["rule"] for i in items for h in i["rule_hits"])

    assert listed(date(2025, 3, 15)) == []
    assert listed(date(2025, 3, 16)) == ["R9"]
    clock.advance(days=19)
    engine.confirm_delivery(cast.villager, need.id)
    runner.catch_up()
    assert listed(date(2025, 4, 9)) == []
    assert listed(date(2025, 4, 10)) == ["R5"]
    engine.extend_commitment_deadline(cast.agency, made.id, date(2025, 6, 30), "雨季")
    runner.catch_up()
    assert listed(date(2025, 4, 10)) == []
