"""Report latency on a generated store, each report against reading the rows it is made from.

    PYTHONPATH=. python bench/bench_reports.py --home DIR [--runs 40] [--as-of 2025-09-30]
        [--county 330102] [--organisation UUID] [--json FILE]

``DIR`` is a data folder written by ``cobuild generate``.  Its projections
(``DIR/projections.sqlite``) are built first if they are missing (a from-zero rebuild) or
behind the log (a catch-up); nothing else is written.  The reports are called through the
functions the API calls (``projections.reports``), with the latest published rule set:

- status board (``pairings_report``) of one county, first page of 50, as of ``--as-of``;
- inactive list (``inactive_report``) as of ``--as-of``, first page of 50: the province and
  the county;
- coverage (``coverage_report``) per county of the whole province and of the county, as of
  ``--as-of`` (the exact query over dated facts) and as of the day after the last fact (the
  latest state, what "today" asks);
- evaluation (``evaluation_report``) of one organisation for 2025.

The county defaults to the one with most pairings and the organisation to the giving
organisation with most pairings: the heaviest of each kind.

Baseline, per report, in the same run: fetching the fact rows the report is derived from,
by the same indexes and in the same read snapshot set-up, without deriving anything (no
lifecycle, no rules, no scoring, no rows made ready for JSON).  For a page: the pairing rows
of the scope up to its last row, their activities, lifecycle transitions and commitments,
the receivers' tasks, and the commitments' and tasks' steps: what deriving the board of those
pairings reads (the inactive list reads less, only what can decide whether a pairing is
listed, so its ratio can be below 1).  For coverage: counting the
organisations of the scope per child region and kind.  For the evaluation: the
organisation's pairings and their activities of the year.  "x base" is report p50 over
baseline p50: what deriving the answer costs over fetching its inputs, the part this code
owns (SQLite's own speed is in the baseline).  "rows" is how many rows the baseline fetched.

Each figure is p50 and p95 over ``--runs`` runs after one warm-up run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_projections import latency, load
from projections import reports
from domain.pairing_rules import Thresholds
from projections.runner import ProjectionRunner, open_runner
from projections.store import ProjectionDatabase
from workflows.store.settings import Settings
from workflows.engine import open_engine

# The aims of issue #8 for a province (about 30,000 pairings).
AIMS_MS = {"inactive p1 (province)": 50.0, "coverage (province)": 200.0,
           "coverage (province, today)": 200.0}
YEAR = 2025
PAGE = 50


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """p50 and p95 in ms over ``runs`` runs after one warm-up run."""
    fn()
    return latency(fn, runs)


def ready_runner(home: Path) -> tuple[ProjectionRunner, str]:
    """The data folder's runner with its projections up to the log head, and what it took."""
    settings = Settings(home=home)
    fresh = not (home / "projections.sqlite").exists()
    runner = open_runner(open_engine(settings), settings)
    started = time.perf_counter()
    if fresh:
        runner.rebuild()
        return runner, f"projections rebuilt from zero in {time.perf_counter() - started:.1f}s"
    applied = runner.catch_up()
    return runner, f"projections caught up ({applied} events) in {time.perf_counter() - started:.1f}s"


# -- baselines: the rows a report reads, fetched by the same indexes -------------------------

def _in_chunks(facts: reports.Facts, sql: str, keys: list[str]) -> list[tuple]:
    out: list[tuple] = []
    for start in range(0, len(keys), 900):
        chunk = keys[start:start + 900]
        out += facts.rows(sql.format(marks=",".join("?" * len(chunk)), p="{p}"), chunk)
    return out


def page_rows(db: ProjectionDatabase, w: reports.Window, region: str | None,
              last: tuple[str, str] | None) -> int:
    """The pairing rows of the scope up to a page's last row, with their activities,
    lifecycle transitions, commitments and the receivers' tasks, with their steps."""
    where, params = reports._pairing_filter(w, region, None)
    sql = "SELECT " + reports.PAIRING_COLUMNS + " FROM {p}pairing WHERE " + where
    if last:
        sql += " AND (receiver_region < ? OR (receiver_region = ? AND id <= ?))"
        params += [last[0], last[0], last[1]]
    with reports.open_facts(db) as facts:
        rows = facts.rows(sql + " ORDER BY receiver_region, id", params)
        ids, receivers = [r[0] for r in rows], sorted({r[2] for r in rows})
        commitments = [r[0] for r in _in_chunks(
            facts, "SELECT " + reports.COMMITMENT_COLUMNS + " FROM {p}commitment"
            " WHERE pairing_id IN ({marks})", ids)]
        tasks = [r[0] for r in _in_chunks(
            facts, "SELECT " + reports.TASK_COLUMNS + " FROM {p}task"
            " WHERE receiver_id IN ({marks})", receivers)]
        return sum(len(_in_chunks(facts, sql, keys)) for sql, keys in (
            ("SELECT pairing_id, day, cosigned_day, lag_days FROM {p}activity"
             " WHERE pairing_id IN ({marks})", ids),
            ("SELECT pairing_id, kind, side, day, value FROM {p}pairing_event"
             " WHERE pairing_id IN ({marks})", ids),
            ("SELECT commitment_id, kind, day, value FROM {p}commitment_event"
             " WHERE commitment_id IN ({marks})", commitments),
            ("SELECT task_id, kind, day, value, giver_id FROM {p}task_event"
             " WHERE task_id IN ({marks})", tasks),
        )) + len(rows) + len(commitments) + len(tasks)


def org_counts(db: ProjectionDatabase, region: str | None) -> int:
    """The organisations of the scope counted per child region and kind."""
    bounds = reports.region_bounds(region) or ("", ":")
    width = reports.child_level(region)
    with reports.open_facts(db) as facts:
        return sum(n for *_, n in facts.rows(
            "SELECT substr(region_code, 1, ?), kind, count(*) FROM {p}org"
            " WHERE region_code >= ? AND region_code < ? GROUP BY 1, 2", [width, *bounds]))


def organisation_rows(db: ProjectionDatabase, w: reports.Window, organisation: str) -> int:
    """An organisation's pairings and their activities of the year."""
    where, params = reports._pairing_filter(w, None, organisation)
    with reports.open_facts(db) as facts:
        ids = [r[0] for r in facts.rows("SELECT id FROM {p}pairing WHERE " + where, params)]
        return len(ids) + len(_in_chunks(
            facts, "SELECT pairing_id, day, cosigned_day, lag_days FROM {p}activity"
            f" WHERE pairing_id IN ({{marks}}) AND day BETWEEN '{YEAR}-01-01' AND '{YEAR}-12-31'",
            ids))


# -- the measurement ------------------------------------------------------------------------

def heaviest(db: ProjectionDatabase) -> tuple[str, str]:
    """The county with most pairings and the giving organisation with most pairings."""
    with reports.open_facts(db) as facts:
        (county, _), = facts.rows("SELECT substr(receiver_region, 1, 6), count(*) FROM {p}pairing"
                                  " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")
        (giver, _), = facts.rows("SELECT giver_id, count(*) FROM {p}pairing"
                                 " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")
    return county, giver


def last_row(result: dict[str, Any]) -> tuple[str, str] | None:
    items = result["items"]
    return (items[-1]["region_code"], items[-1]["pairing_id"]) if items else None


def measure(runner: ProjectionRunner, runs: int, as_of: date, county: str | None = None,
            organisation: str | None = None) -> list[dict[str, Any]]:
    """One row per report: p50/p95 of the report and of its baseline, in ms."""
    db = runner.db
    rules = Thresholds.from_published(runner.app.current_rules())
    big_county, big_giver = heaviest(db)
    county, organisation = county or big_county, organisation or big_giver
    with reports.open_facts(db) as facts:
        horizon = dict(facts.rows("SELECT name, value FROM {p}horizon"))
    w = reports.Window(as_of)
    today = reports.Window(date.fromisoformat(horizon["day"]) + timedelta(days=1))
    board = reports.pairings_report(db, w, rules, region=county, limit=PAGE)
    inactive_all = reports.inactive_report(db, w, rules, limit=PAGE)
    inactive_county = reports.inactive_report(db, w, rules, region=county, limit=PAGE)
    cases = [
        (f"board p1 ({county})",
         lambda: reports.pairings_report(db, w, rules, region=county, limit=PAGE),
         lambda: page_rows(db, w, county, last_row(board))),
        ("inactive p1 (province)",
         lambda: reports.inactive_report(db, w, rules, limit=PAGE),
         lambda: page_rows(db, w, None, last_row(inactive_all))),
        (f"inactive p1 ({county})",
         lambda: reports.inactive_report(db, w, rules, region=county, limit=PAGE),
         lambda: page_rows(db, w, county, last_row(inactive_county))),
        ("coverage (province)", lambda: reports.coverage_report(db, w, rules),
         lambda: org_counts(db, None)),
        (f"coverage ({county})", lambda: reports.coverage_report(db, w, rules, region=county),
         lambda: org_counts(db, county)),
        ("coverage (province, today)", lambda: reports.coverage_report(db, today, rules),
         lambda: org_counts(db, None)),
        ("evaluation (one org)",
         lambda: reports.evaluation_report(db, YEAR, None, rules, organisation=organisation),
         lambda: organisation_rows(db, reports.Window(date(YEAR, 12, 31)), organisation)),
    ]
    rows = []
    for label, report, baseline in cases:
        p50, p95 = timed(report, runs)
        b50, b95 = timed(baseline, runs)
        aim = AIMS_MS.get(label)
        rows.append({"report": label, "p50_ms": p50, "p95_ms": p95, "baseline_p50_ms": b50,
                     "baseline_p95_ms": b95, "baseline_rows": baseline(),
                     "aim_p95_ms": aim, "met": None if aim is None else p95 < aim})
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'report':<28} {'p50 ms':>8} {'p95 ms':>8} {'base p50':>9} {'base p95':>9} "
          f"{'rows':>7} {'x base':>7} {'aim p95':>8}")
    for r in rows:
        aim = "" if r["aim_p95_ms"] is None else (
            f"<{r['aim_p95_ms']:.0f} {'met' if r['met'] else 'NOT met'}")
        print(f"{r['report']:<28} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
              f"{r['baseline_p50_ms']:>9.2f} {r['baseline_p95_ms']:>9.2f} {r['baseline_rows']:>7} "
              f"{r['p50_ms'] / max(r['baseline_p50_ms'], 1e-6):>7.1f} {aim:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path, help="a data folder written by cobuild generate")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(YEAR, 9, 30))
    parser.add_argument("--county", help="6-digit county code (default: the one with most pairings)")
    parser.add_argument("--organisation", help="organisation id (default: the giver with most pairings)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    runner, how = ready_runner(args.home)
    status = runner.status()
    with reports.open_facts(runner.db) as facts:
        (pairings,), = facts.rows("SELECT count(*) FROM {p}pairing")
        (orgs,), = facts.rows("SELECT count(*) FROM {p}org")
    print(f"{args.home}: {status.head} events, {orgs} organisations, {pairings} pairings; {how}")
    print(f"as of {args.as_of}, {args.runs} runs after a warm-up; {load()}")
    rows = measure(runner, args.runs, args.as_of, args.county, args.organisation)
    print_rows(rows)
    print(load())
    if args.json:
        args.json.write_text(json.dumps({"home": str(args.home), "events": status.head,
                                         "pairings": pairings, "rows": rows}, indent=1))
    runner.app.close()


if __name__ == "__main__":
    main()
