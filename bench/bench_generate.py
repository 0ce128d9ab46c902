"""Generation events/s against raw batched ``eventsourcing`` saves of the same events, same run.

The generation plays a synthetic year through the engine (every command checked, one
transaction per day).  The baseline takes the very events it wrote, already decoded, and
saves them with a plain ``Application`` on the same audited SQLite recorder, one
``save`` per business day as the generation did: what is left is the cost of writing.
The difference is what the commands add (loading, attribution, authorisation, rules).

    .venv/bin/python bench/bench_generate.py [--scale county] [--factor 1] [--seed 1]

Use ``--factor 1``, ``2`` and ``4`` to see how the cost grows with the data.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application

from workflows.audit.wiring import audited_env
from workflows.store.clock import local_date
from workflows.store.settings import Settings
from workflows.core import DateAsISO
from workflows.engine import open_engine
from workflows.generate import Generation, Scale


class RawApp(Application[UUID]):
    def register_transcodings(self, transcoder):
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


def generated(folder: Path, scale: Scale, seed: int) -> tuple[int, float]:
    with Generation(Settings(home=folder), scale, seed) as run:
        report = run.play()
    return report.events, report.seconds


def days_of_events(folder: Path) -> list[list]:
    """The generated events decoded, grouped by business day (the generation's batches)."""
    engine = open_engine(Settings(home=folder))
    try:
        events = [engine.mapper.to_domain_event(n)
                  for n in engine.recorder.select_notifications(start=1, limit=100_000_000)]
    finally:
        engine.close()
    days: list[list] = []
    day = None
    for event in events:
        occurred_at = getattr(event, "occurred_at", None)  # a pairing slot's opening has none
        if occurred_at is not None and local_date(occurred_at) != day:
            day = local_date(occurred_at)
            days.append([])
        days[-1].append(event)
    return days


def raw_saves(folder: Path, days: list[list]) -> float:
    folder.mkdir(parents=True)
    app = RawApp(env=audited_env(Settings(home=folder).eventsourcing_env()))
    try:
        begin = time.perf_counter()
        for events in days:
            app.save(*events)
        return time.perf_counter() - begin
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="county", choices=("county", "province"))
    parser.add_argument("--factor", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scale = Scale.named(args.scale, args.factor)
    with tempfile.TemporaryDirectory() as tmp:
        events, engine_seconds = generated(Path(tmp) / "engine", scale, args.seed)
        days = days_of_events(Path(tmp) / "engine")
        raw_seconds = raw_saves(Path(tmp) / "raw", days)
    load = os.getloadavg()
    print(f"scale {scale.name} x{scale.factor:g}, seed {args.seed}: {events} events in "
          f"{len(days)} daily batches (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"{os.cpu_count()} cores)")
    print(f"  generation through the engine: {engine_seconds:8.1f} s  {events / engine_seconds:8.0f} events/s")
    print(f"  raw batched saves, same events: {raw_seconds:8.1f} s  {events / raw_seconds:8.0f} events/s")
    print(f"  engine / raw time: {engine_seconds / raw_seconds:.2f}x; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
