"""``cobuild report ...`` and ``cobuild projections ...``: the read side from the command line.

A report first brings the projections up to date with the event log, so what it prints
includes everything recorded before it ran.
"""
from __future__ import annotations

import sys
import time
from datetime import date, datetime
from pathlib import Path

import click

from projections import export, reports
from projections.reports import ReportError, Window
from domain.pairing_rules import Thresholds
from projections.runner import ProjectionRunner, open_runner
from workflows.store.clock import SystemClock, local_date
from workflows.store.settings import Settings
from workflows.engine import open_engine

REPORTS = ("pairings", "inactive", "commitments", "tasks", "coverage", "evaluation", "inbox",
           "followups")
FORMATS = ("table", "csv", "xlsx", "json")


def _runner() -> ProjectionRunner:
    settings = Settings.from_env()
    return open_runner(open_engine(settings), settings)


def _rules(runner: ProjectionRunner) -> Thresholds:
    """The latest published rule set; every report names its version."""
    return Thresholds.from_published(runner.app.current_rules())


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-12-31", param_hint=option)


def _known_at(value: str | None) -> date | datetime | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} is neither a date (2025-12-31) nor a time with an offset "
            "(2025-12-31T18:00:00+08:00)", param_hint="--known-at")
    return moment


def _organisation_id(runner: ProjectionRunner, value: str | None) -> str | None:
    """An organisation named by its code or its id."""
    if not value:
        return None
    with reports.open_facts(runner.db) as facts:
        found = facts.rows("SELECT id FROM {p}org WHERE code = ? OR id = ?", (value, value))
    if not found:
        raise click.BadParameter(f"no organisation with code or id {value!r}",
                                 param_hint="--organisation")
    return found[0][0]


@click.command("report")
@click.argument("name", type=click.Choice(REPORTS))
@click.option("--as-of", help="Business date the report describes (default: today).")
@click.option("--known-at", help="Only facts recorded by then: a date (end of that day) or a time.")
@click.option("--region", help="Region code prefix (e.g. 331123).")
@click.option("--organisation", help="Organisation code or id (inbox: required).")
@click.option("--status", help="pairings: only this derived status.")
@click.option("--year", type=int, help="evaluation: the year (default: the year of --as-of).")
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Items per page.")
@click.option("--cursor", help="Next page: the cursor the previous page printed.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table")
@click.option("--output", type=click.Path(dir_okay=False), help="Write to this file (xlsx: required).")
def report(name: str, as_of: str | None, known_at: str | None, region: str | None,
           organisation: str | None, status: str | None, year: int | None, limit: int | None,
           cursor: str | None, fmt: str, output: str | None) -> None:
    """Print a report: pairings, inactive, commitments, tasks, coverage, evaluation, inbox,
    followups."""
    if fmt == "xlsx" and not output:
        raise click.UsageError("--format xlsx needs --output FILE.xlsx")
    runner = _runner()
    runner.catch_up()
    day = _date(as_of, "--as-of")
    rules = _rules(runner)
    try:
        org = _organisation_id(runner, organisation)
        if name == "evaluation":
            year = year or (day or local_date(SystemClock().now())).year
            w = Window(day or date(year, 12, 31), _known_at(known_at))
            result = reports.evaluation_report(runner.db, year, w, rules, region=region,
                                               organisation=org)
        else:
            w = Window(day or local_date(SystemClock().now()), _known_at(known_at))
            result = _run(name, runner, rules, w, region, org, status, limit, cursor)
    except ReportError as error:
        raise click.UsageError(str(error))
    _emit(name, result, fmt, output)


def _run(name, runner, rules, w, region, org, status, limit, cursor) -> dict:
    db = runner.db
    paging = {"cursor": cursor, **({"limit": limit} if limit else {})}
    if name == "pairings":
        return reports.pairings_report(db, w, rules, region=region, organisation=org,
                                       status=status, **paging)
    if name == "inactive":
        return reports.inactive_report(db, w, rules, region=region, organisation=org, **paging)
    if name == "commitments":
        return reports.commitments_report(db, w, region=region, organisation=org, **paging)
    if name == "tasks":
        return reports.tasks_report(db, w, region=region, organisation=org, **paging)
    if name == "coverage":
        return reports.coverage_report(db, w, rules, region=region)
    if name == "followups":
        return reports.followups_report(db, w, region=region, **paging)
    if org is None:
        raise ReportError("the inbox is one organisation's: give --organisation")
    return reports.inbox_report(db, w, org)


def _emit(name: str, result: dict, fmt: str, output: str | None) -> None:
    if fmt == "xlsx":
        Path(output).write_bytes(export.to_xlsx(name, result))
        click.echo(f"wrote {output}")
        return
    text = {"json": export.to_json, "table": lambda r: export.to_table(name, r),
            "csv": lambda r: export.to_csv(name, r)}[fmt](result)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@click.group("projections")
def projections() -> None:
    """The read models: status, catch-up, rebuild."""


@projections.command("status")
def projections_status() -> None:
    """Active version, applied position, log head and lag."""
    status = _runner().status()
    click.echo(f"active version: v{status.active_version}")
    click.echo(f"applied up to:  {status.position} of {status.head} (lag {status.lag})")
    for version, position in status.building.items():
        click.echo(f"building v{version}: at {position}")


@projections.command("catch-up")
def projections_catch_up() -> None:
    """Apply every event recorded since the last run."""
    runner = _runner()
    applied = runner.catch_up()
    click.echo(f"applied {applied} events; at {runner.position()} of {runner.head()}")


@projections.command("rebuild")
def projections_rebuild() -> None:
    """Rebuild from position zero beside the serving version, then switch to it."""
    runner = _runner()
    started = time.perf_counter()
    version = runner.rebuild()
    seconds = time.perf_counter() - started
    click.echo(f"rebuilt as v{version} up to position {runner.position()} in {seconds:.1f}s")
