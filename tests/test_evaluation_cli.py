"""``cobuild evaluation ...`` and ``cobuild worker`` on a real data folder (system clock):
open, compute, publicise, the worker ends the publicity period and projects, finalise, show."""
from __future__ import annotations

import json

from click.testing import CliRunner

from api.cli.evaluation import evaluation
from api.cli.workflows import worker
from projections.reports import open_facts
from projections.runner import open_runner
from tests.support import COUNTY


def test_a_round_from_the_command_line(engine, cast, settings, monkeypatch):
    cast.pairing_in_force()
    for name, value in settings.environ().items():  # the same store, SQLite or PostgreSQL
        monkeypatch.setenv(name, value)
    cli = CliRunner()

    def run(*args: str, command=evaluation, ok: bool = True) -> str:
        result = cli.invoke(command, list(args))
        assert (result.exit_code == 0) is ok, result.output
        return result.output

    where = ["--year", "2025", "--region", COUNTY]
    assert "rule set version 0" in run("open", *where)
    assert "already open" in run("open", *where, ok=False)
    shown = run("show", *where)
    assert "联评中" in shown and "(默认规则)" in shown and "版本" not in shown
    assert "computed 1 pairings and 2 organisations" in run("compute", *where)
    assert "2025-01-01 至 2025-01-03" in run("publicise", *where, "--from", "2025-01-01", "--days", "3")
    assert "is publicised: cannot finalise" in run("finalise", *where, ok=False)

    ran = run("--once", command=worker)
    assert "fired 1 timers: publicity ended ×1" in ran
    with open_facts(open_runner(engine, settings).db) as facts:
        assert facts.rows("SELECT COUNT(*) FROM {p}pairing")[0][0] == 1   # the worker projected

    assert "finalised" in run("finalise", *where)
    table = run("show", *where)
    assert "已定档" in table and "县财政局机关党委" in table and "团结协作好" in table
    shown = json.loads(run("show", *where, "--format", "json"))
    assert shown["state"] == "finalised" and len(shown["grades"]["pairings"]) == 1
    assert "no evaluation round" in run("show", "--year", "2024", "--region", COUNTY, ok=False)
