"""The follow-up list (docs/domain.md): cases the workflow opens, as the projections see them on
any date, by region and age; and ``cobuild report followups``."""
from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner

from api.cli.reports import report
from domain.followup import FollowUpCase
from projections.reports import Window, followups_report
from projections.runner import open_runner
from tests.support import COUNTY
from tests.workflow_support import START, cosigned_activity, on, open_case
from workflows.scheduler import Worker, open_worker_state


def test_open_cases_by_region_and_age(engine, cast, clock, settings, monkeypatch):
    runner = open_runner(engine, settings)
    worker = Worker(engine, open_worker_state(settings), followers=[runner])
    pairing = cast.pairing_in_force()
    for _ in range(95):
        clock.advance(days=1)
        worker.drain()
    r1 = open_case(engine, pairing, "R1")
    assert engine.load(FollowUpCase, r1).opened_at.date() == on(60)
    before_answer = clock.now()
    clock.advance(minutes=30)  # recorded time is the engine's clock: answer after it
    engine.respond_followup(cast.agency, r1, "已制定活动计划")
    worker.drain()

    def listing(day: int, **kw):
        return followups_report(runner.db, Window(on(day), kw.pop("known_at", None)), **kw)

    assert listing(59)["items"] == []
    first = listing(61)["items"]
    assert [(i["rule"], i["state"], i["age_days"], i["severity"]) for i in first] == \
        [("R1", "open", 1, "warning")]
    assert first[0]["responsible_name"] == "县财政局机关党委" and first[0]["rule_label"] == "止于签约"
    now = listing(95)
    assert sorted((i["rule"], i["state"], i["age_days"]) for i in now["items"]) == \
        [("R1", "responded", 35), ("R2", "open", 5)]
    assert now["by_region"] == [{"region_code": "33", "open": 1, "responded": 1, "red": 0,
                                 "days_0_30": 1, "days_31_90": 1, "days_over_90": 0}]
    assert listing(95, region=f"{COUNTY}000")["totals"]["open"] == 1
    assert listing(95, region="3301")["items"] == []
    unanswered = listing(95, known_at=before_answer)["items"]
    assert {i["rule"]: i["state"] for i in unanswered}["R1"] == "open"

    cosigned_activity(engine, cast.agency, cast.villager, pairing, "主题党日")
    worker.drain()
    assert listing(95)["items"] == []              # the activity closed both cases that day
    assert len(listing(94)["items"]) == 2          # what was open before stays on record

    monkeypatch.setenv("COBUILD_HOME", str(settings.home))
    # The command finds the store (and on PostgreSQL the fact store) the test wrote.
    if settings.database_url:
        monkeypatch.setenv("COBUILD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("COBUILD_DATABASE_URL", raising=False)
    day = (START + timedelta(days=94)).isoformat()
    shown = CliRunner().invoke(report, ["followups", "--as-of", day])
    assert shown.exit_code == 0, shown.output
    assert all(text in shown.output for text in ("督办案件", "止于签约", "已答复", "90天以上"))
    csv = CliRunner().invoke(report, ["followups", "--as-of", day, "--format", "csv"])
    assert "责任组织" in csv.output.splitlines()[0] and len(csv.output.splitlines()) == 3
