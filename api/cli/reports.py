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

from api.cli.common import root
from projections import export
from projections.queries import Query, ReportQueries
from projections.reports import ReportError, Window
from workflows.store.clock import SystemClock, local_date

REPORTS = ("pairings", "inactive", "commitments", "tasks", "coverage", "evaluation", "inbox",
           "followups")
FORMATS = ("table", "csv", "xlsx", "json")


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-12-31", param_hint=option) from None


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


def _organisation_id(reports: ReportQueries, value: str | None) -> str | None:
    """An organisation named by its code or its id."""
    if not value:
        return None
    found = reports.organisation_id(value)
    if found is None:
        raise click.BadParameter(f"no organisation with code or id {value!r}",
                                 param_hint="--organisation")
    return found


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
    reports = root().reports
    reports.runner.catch_up()
    day = _date(as_of, "--as-of")
    rules = reports.rules()
    try:
        org = _organisation_id(reports, organisation)
        if name == "evaluation":
            # The whole year on one page, the pairings and the organisations' summary.
            year = year or (day or local_date(SystemClock().now())).year
            w = Window(day or date(year, 12, 31), _known_at(known_at))
            query = Query(w, rules, region=region, organisation=org, year=year)
        else:
            if name == "inbox" and org is None:
                raise ReportError("the inbox is one organisation's: give --organisation")
            w = Window(day or local_date(SystemClock().now()), _known_at(known_at))
            query = Query(w, rules, region=region, organisation=org, status=status,
                          cursor=cursor, limit=limit)
        result = reports.run(name, query)
    except ReportError as error:
        raise click.UsageError(str(error)) from None
    _emit(name, result, fmt, output)


def _emit(name: str, result: dict, fmt: str, output: str | None) -> None:
    if fmt == "xlsx":
        assert output is not None  # the command refuses xlsx without --output
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
    status = root().projections.status()
    click.echo(f"active version: v{status.active_version}")
    click.echo(f"applied up to:  {status.position} of {status.head} (lag {status.lag})")
    for version, position in status.building.items():
        click.echo(f"building v{version}: at {position}")


@projections.command("catch-up")
def projections_catch_up() -> None:
    """Apply every event recorded since the last run."""
    runner = root().projections
    applied = runner.catch_up()
    click.echo(f"applied {applied} events; at {runner.position()} of {runner.head()}")


@projections.command("rebuild")
def projections_rebuild() -> None:
    """Rebuild from position zero beside the serving version, then switch to it."""
    runner = root().projections
    started = time.perf_counter()
    version = runner.rebuild()
    seconds = time.perf_counter() - started
    click.echo(f"rebuilt as v{version} up to position {runner.position()} in {seconds:.1f}s")
