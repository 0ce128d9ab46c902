"""Evaluation round benchmark: computing (and freezing) a county's and a city's year.

    PYTHONPATH=. python bench/bench_evaluation.py [--pairings 8000] [--dir /tmp/cobuild-bench-eval]

Builds the projection benchmark's store (pairings spread over 20 counties of one city, so a
county holds about 1/20 of them; activities, commitments and confirmations through 2024),
projects it, records a satisfaction survey for every pairing of one county, then times
``compute_evaluation`` for that county's 2024 round and for the whole city's, and reports the
size of the frozen ``ScoresComputed`` event.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_projections import ADMIN, build_store
from domain.evaluation import EvaluationRound
from projections.evaluations import ProjectionScorer
from projections.runner import open_runner
from workflows.store.clock import FakeClock
from workflows.store.settings import Settings
from workflows.engine import open_engine

SURVEY = {"satisfied": 40, "basically_satisfied": 12, "dissatisfied": 3, "unknown": 5}


def timed(fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairings", type=int, default=8000)
    parser.add_argument("--dir", default="/tmp/cobuild-bench-eval")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(args.dir)
    shutil.rmtree(home, ignore_errors=True)
    started = time.perf_counter()
    built, head = build_store(home, args.pairings)
    built.close()
    print(f"store: {args.pairings} pairings, {head} events in {time.perf_counter() - started:.1f}s")

    settings = Settings(home=home)
    engine = open_engine(settings, FakeClock(datetime(2025, 2, 10, 2, tzinfo=timezone.utc)))
    runner = open_runner(engine, settings)
    started = time.perf_counter()
    runner.catch_up()
    print(f"projected in {time.perf_counter() - started:.1f}s")
    scorer = ProjectionScorer(runner)

    county, city = "331100", "3311"
    for region in (county, city):
        engine.open_evaluation(ADMIN, 2024, region)
    round_id = EvaluationRound.create_id(county, 2024)
    with engine.batch():
        for (pairing_id,) in _pairings_of(runner, county):
            engine.record_evaluation_satisfaction(ADMIN, round_id, pairing_id, SURVEY)

    for region in (county, city):
        round_id = EvaluationRound.create_id(region, 2024)
        p50, worst = timed(lambda round_id=round_id: engine.compute_evaluation(ADMIN, round_id, scorer),
                           args.runs)
        snapshot = engine.load(EvaluationRound, round_id).snapshot
        stored = max(len(n.state) for n in engine.recorder.select_notifications(
            start=1, limit=10**7, topics=["domain.evaluation:EvaluationRound.ScoresComputed"]))
        print(f"compute {region}: {len(snapshot['pairings'])} pairings, "
              f"{len(snapshot['organisations'])} organisations: p50 {p50:.2f}s, max {worst:.2f}s; "
              f"largest ScoresComputed event {stored / 1024:.0f} KiB")


def _pairings_of(runner, region: str) -> list[tuple]:
    from uuid import UUID

    from projections.reports import open_facts

    with open_facts(runner.db) as facts:
        rows = facts.rows("SELECT id FROM {p}pairing WHERE receiver_region >= ? AND receiver_region < ?",
                          (region, region + ":"))
    return [(UUID(r[0]),) for r in rows]


if __name__ == "__main__":
    main()
