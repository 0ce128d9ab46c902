"""Commands per second through the engine: PostgreSQL against SQLite, same run, same mix.

    PYTHONPATH=. python bench/bench_postgres.py --database-url postgresql://cobuild:cobuild@127.0.0.1/cobuild

Each backend gets a fresh store (a temporary SQLite folder; a new PostgreSQL database, dropped
afterwards).  Setup (organisations and users) is not timed.  The timed mix is the life of a
pairing as the two parties live it, eight commands:

    propose, accept, sign (giver), sign (village), record activity, co-sign,
    record activity (village), co-sign (giver)

run for ``--pairings`` pairings by ``--threads`` client threads sharing one engine (as one
gunicorn worker's threads do).  A projection runner follows the log in the background
meanwhile (as in ``cobuild serve``): the lag is sampled every 50 ms as events behind the
head, and after the last command the time until the read side has everything is measured.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.base import Actor
from projections.runner import ProjectionRunner, open_runner
from tests.support import COUNTY, fresh_settings
from workflows.store.settings import Settings
from workflows.engine import Engine, open_engine

COMMANDS_PER_PAIRING = 8


@dataclass
class Party:
    org: object
    user: Actor


def cast(engine: Engine, pairings: int) -> list[tuple[Party, Party]]:
    admin = engine.authenticate(engine.bootstrap_admin())
    lines = ["code,name,kind,region_code"]
    for i in range(pairings):
        lines.append(f"G{i},机关党委{i},agency,{COUNTY}000000")
        lines.append(f"V{i},村党支部{i},village,{COUNTY}101{i % 900 + 100:03d}")
    outcomes = engine.import_organisations(admin, "\n".join(lines) + "\n")
    ids = iter(o.id for o in outcomes)
    pairs = []
    for i in range(pairings):
        giver, village = next(ids), next(ids)
        g = engine.authenticate(engine.register_user(admin, f"书记{i}", "agency", giver)[1])
        v = engine.authenticate(engine.register_user(admin, f"支书{i}", "village", village)[1])
        pairs.append((Party(giver, g), Party(village, v)))
    return pairs


def life_of_a_pairing(engine: Engine, giver: Party, village: Party, latencies: list[float]) -> int:
    today = engine.today()
    t = time.perf_counter()
    pairing = engine.propose_pairing(giver.user, giver.org, village.org, date(2025, 1, 1), date(2027, 12, 31)).id
    latencies.append(time.perf_counter() - t)
    last = None
    for command in (
        lambda: engine.accept_pairing(village.user, pairing),
        lambda: engine.sign_agreement(giver.user, pairing, today),
        lambda: engine.sign_agreement(village.user, pairing, today),
        lambda: engine.record_activity(giver.user, pairing, "visit", "入户走访", engine.clock.now()),
        lambda: engine.cosign_activity(village.user, pairing, last.details["activity_id"]),  # noqa: B023 (the step before)
        lambda: engine.record_activity(village.user, pairing, "joint_org_life", "联合主题党日", engine.clock.now()),
        lambda: engine.cosign_activity(giver.user, pairing, last.details["activity_id"]),  # noqa: B023 (the step before)
    ):
        t = time.perf_counter()
        last = command()
        latencies.append(time.perf_counter() - t)
    return last.position


class LagSampler:
    """Samples how far the projection runner is behind the head of the log."""

    def __init__(self, engine: Engine, runner: "ProjectionRunner") -> None:
        self.engine, self.runner = engine, runner
        self.behind: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            head = self.engine.recorder.max_notification_id() or 0
            self.behind.append(max(head - self.runner.position(), 0))

    def __enter__(self) -> "LagSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(label: str, settings: Settings, pairings: int, threads: int) -> dict[str, object]:
    engine = open_engine(settings)
    try:
        pairs = cast(engine, pairings)
        latencies: list[float] = []
        lock = threading.Lock()

        def one(pair: tuple[Party, Party]) -> int:
            mine: list[float] = []
            position = life_of_a_pairing(engine, pair[0], pair[1], mine)
            with lock:
                latencies.extend(mine)
            return position

        runner = open_runner(engine, settings)
        runner.catch_up()  # the setup's events are not part of the lag
        runner.start(interval=0.05)
        try:
            with LagSampler(engine, runner) as lag:
                started = time.perf_counter()
                with ThreadPoolExecutor(threads) as pool:
                    positions = list(pool.map(one, pairs))
                elapsed = time.perf_counter() - started
                head = engine.recorder.max_notification_id()
                t = time.perf_counter()
                runner.wait(head, timeout=600)
                catch_up = time.perf_counter() - t
        finally:
            runner.stop()
        commands = pairings * COMMANDS_PER_PAIRING
        latencies.sort()
        behind = sorted(lag.behind) or [0]
        return {
            "backend": label, "commands": commands, "seconds": elapsed,
            "commands_per_s": commands / elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
            "events": head, "last_position": max(positions),
            "lag_p50_events": statistics.median(behind),
            "lag_max_events": behind[-1],
            "catch_up_ms": 1000 * catch_up,
        }
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("COBUILD_TEST_DATABASE_URL", ""),
                        help="an existing PostgreSQL database whose role may CREATE DATABASE")
    parser.add_argument("--pairings", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url (or COBUILD_TEST_DATABASE_URL) is required")

    results = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for label, url in (("sqlite", ""), ("postgresql", args.database_url)):
            with fresh_settings(Path(tmp) / label, url) as settings:
                results.append(run(label, settings, args.pairings, args.threads))

    load_after = os.getloadavg()
    print(f"{args.pairings} pairings x {COMMANDS_PER_PAIRING} commands, {args.threads} client threads, "
          f"{os.cpu_count()} CPUs; load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"{'backend':<11} {'commands/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'events':>7} "
          f"{'lag p50 ev':>10} {'lag max ev':>10} {'catch-up ms':>11}")
    for r in results:
        print(f"{r['backend']:<11} {r['commands_per_s']:>10.0f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
              f"{r['events']:>7} {r['lag_p50_events']:>10.0f} {r['lag_max_events']:>10} {r['catch_up_ms']:>11.0f}")
    sqlite, postgres = results
    print("postgresql / sqlite: " + ", ".join(
        f"{name} {ratio(postgres[key], sqlite[key])}" for name, key in (
            ("commands/s", "commands_per_s"), ("p50", "p50_ms"), ("p95", "p95_ms"),
            ("lag p50", "lag_p50_events"), ("lag max", "lag_max_events"), ("catch-up", "catch_up_ms"))))


def ratio(measured: float, baseline: float) -> str:
    return f"x{measured / baseline:.2f}" if baseline else "n/a (baseline 0)"


if __name__ == "__main__":
    main()
