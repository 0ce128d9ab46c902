"""Projection benchmarks: rebuild throughput and report latency at ~30,000 pairings.

    PYTHONPATH=. python bench/bench_projections.py [--pairings 30000] [--dir DIR] [--reuse]
        [--runs 40] [--rounds 3]

Builds an event store of genuine domain events (organisations with collective income,
pairings proposed, accepted and signed, co-signed activities, public commitments); about
14 events a pairing, so ``--pairings 70000`` is a store of ~1M events.  ``--reuse`` keeps
the store already in ``--dir``.  Then, ``--rounds`` times over the same log, it measures:

- reading and decoding the whole log through the library (``select_notifications`` +
  ``to_domain_event``), the floor a projection built on the mapper pays: the baseline;
- a rebuild of the fact store from zero (``ProjectionRunner.rebuild``), and its ratio to
  the baseline of the same round;

and the first page (50) of the inactive list and the coverage report, p50/p95 over
``--runs`` runs, for the whole country, one county and (inactive list) one organisation:
coverage both as of a date inside the history (answered by the exact query) and as of the
day after the last fact (today's question, answered from the latest state).  The load
average is printed with each round: the figures are only comparable within one run.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import random
import shutil
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.base import Actor, Attribution
from domain.commitment import PublicCommitment
from domain.organisation import Organisation
from domain.pairing import Pairing
from projections import reports
from projections.runner import ProjectionRunner
from projections.store import ProjectionDatabase
from workflows.store.settings import Settings
from workflows.engine import open_engine

ADMIN = Actor("admin", "admin", region_code="")
START = datetime(2024, 1, 1, 2, tzinfo=timezone.utc)
KINDS = ("joint_org_life", "visit", "practical_matter", "meeting", "training")


def build_store(home: Path, pairings: int, seed: int = 1) -> tuple[object, int]:
    rnd = random.Random(seed)
    engine = open_engine(Settings(home=home))
    pending: list = []

    def collect(aggregate, when: datetime) -> None:
        for event in aggregate.collect_events():
            pending.append(dataclasses.replace(event, timestamp=when))
        if len(pending) >= 2000:
            flush()

    def flush() -> None:
        if pending:
            engine.save(*pending)
            pending.clear()

    villages_n, givers_n = pairings * 4 // 5, pairings // 5
    givers, villages = [], []
    for i in range(givers_n):
        county = 331100 + (i % 20)
        org = Organisation.register(Attribution(ADMIN, START), f"G{i}", f"机关党委{i}", "agency",
                                    f"{county}000{i % 1000:03d}")
        collect(org, START)
        givers.append(org.id)
    for i in range(villages_n):
        county = 331100 + (i % 20)
        region = f"{county}{100 + i % 30:03d}{200 + i % 800:03d}"
        org = Organisation.register(Attribution(ADMIN, START), f"V{i}", f"村党支部{i}", "village",
                                    region)
        org.report_collective_income(Attribution(ADMIN, START), 2024,
                                     Decimal(rnd.randrange(5_000, 80_000)))
        collect(org, START)
        villages.append(org.id)
    for i in range(pairings):
        giver, village = givers[i % givers_n], villages[i % villages_n]
        when = START + timedelta(days=rnd.randrange(0, 200))
        gactor = Actor("g", "agency", organisation_id=giver)
        vactor = Actor("v", "village", organisation_id=village)
        p = Pairing.propose(Attribution(gactor, when), giver, village, when.date(),
                            when.date() + timedelta(days=1095))
        p.accept(Attribution(vactor, when))
        p.sign_agreement(Attribution(gactor, when), when.date())
        p.sign_agreement(Attribution(vactor, when), when.date())
        moment = when
        for k in range(rnd.choice((0, 2, 4, 6, 8))):
            moment += timedelta(days=rnd.randrange(15, 100))
            side, other = (gactor, vactor) if k % 2 == 0 else (vactor, gactor)
            p.record_activity(Attribution(side, moment), f"a{k}", KINDS[k % 5], "共建活动",
                              {"giver": 3, "receiver": 4, "masses": 10})
            if rnd.random() < 0.85:
                p.cosign_activity(Attribution(other, moment + timedelta(days=2)), f"a{k}")
        collect(p, moment + timedelta(days=3))
        if i % 3 == 0:
            made = when + timedelta(days=5)
            c = PublicCommitment.make(Attribution(gactor, made), p.id, giver, village, "giver",
                                      "practical_matter", "修建便民道路",
                                      made.date() + timedelta(days=120),
                                      amount_yuan=Decimal(50000))
            c.publicise(Attribution(gactor, made), "村务公开栏", made.date())
            if rnd.random() < 0.6:
                c.claim_fulfilment(Attribution(gactor, made + timedelta(days=100)))
                c.confirm_fulfilment(Attribution(vactor, made + timedelta(days=104)))
            collect(c, made + timedelta(days=105))
    flush()
    return engine, engine.recorder.max_notification_id()


def read_and_decode(engine) -> tuple[int, float]:
    started = time.perf_counter()
    position, count = 0, 0
    while True:
        batch = engine.recorder.select_notifications(start=position, limit=1000,
                                                     inclusive_of_start=False)
        if not batch:
            break
        for n in batch:
            engine.mapper.to_domain_event(n)
        count += len(batch)
        position = batch[-1].id
    return count, time.perf_counter() - started


def latency(fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(int(len(times) * 0.95) - 1, 0)]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairings", type=int, default=30_000)
    parser.add_argument("--dir", default="/tmp/cobuild-bench-projections")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse", action="store_true",
                        help="Keep the event store already in --dir (rebuild the projections only).")
    args = parser.parse_args()
    home = Path(args.dir)
    if args.reuse and (home / "events.sqlite").exists():
        engine = open_engine(Settings(home=home))
        head = engine.recorder.max_notification_id()
        print(f"store: reused {home}, {head} events")
    else:
        shutil.rmtree(home, ignore_errors=True)
        started = time.perf_counter()
        engine, head = build_store(home, args.pairings)
        print(f"store: {args.pairings} pairings, {head} events, built in "
              f"{time.perf_counter() - started:.1f}s")

    runner = ProjectionRunner(engine, ProjectionDatabase(home / "projections.sqlite"), 2000)
    ratios = []
    for round_ in range(1, args.rounds + 1):
        print(f"round {round_}: {load()}")
        count, seconds = read_and_decode(engine)
        baseline = count / seconds
        print(f"  read+decode: {count} events in {seconds:.2f}s = {baseline:,.0f} events/s")
        started = time.perf_counter()
        runner.rebuild()
        seconds = time.perf_counter() - started
        ratios.append(head / seconds / baseline)
        print(f"  rebuild:     {head} events in {seconds:.2f}s = {head / seconds:,.0f} events/s"
              f" = {ratios[-1]:.2f} x read+decode")
    print(f"rebuild / read+decode: median {statistics.median(ratios):.2f} over {len(ratios)} rounds")

    db = runner.db
    as_of = date(2025, 6, 30)
    with reports.open_facts(db) as facts:
        horizon = dict(facts.rows("SELECT name, value FROM {p}horizon"))
    today = date.fromisoformat(horizon["day"]) + timedelta(days=1)
    w, latest = reports.Window(as_of), reports.Window(today)
    first = reports.inactive_report(db, w, limit=50)
    board = reports.pairings_report(db, w, limit=1_000_000)["items"]
    flagged = sum(1 for i in board if any(h["severity"] != "info" for h in i["rule_hits"]))
    print(f"as of {as_of}: {len(board)} pairings, {flagged} on the inactive list; "
          f"first page {len(first['items'])} items; latest state is as of {today}")
    county = "331105"
    organisation = board[0]["giver_id"]
    print(load())
    for label, fn in (
        ("inactive p1 (all)", lambda: reports.inactive_report(db, w, limit=50)),
        (f"inactive p1 ({county})", lambda: reports.inactive_report(db, w, region=county, limit=50)),
        ("inactive p1 (one org)", lambda: reports.inactive_report(db, w, organisation=organisation,
                                                                  limit=50)),
        ("inactive p1 (known_at)", lambda: reports.inactive_report(
            db, reports.Window(as_of, known_at=as_of), limit=50)),
        ("inactive p1 (all, today)", lambda: reports.inactive_report(db, latest, limit=50)),
        ("coverage (all)", lambda: reports.coverage_report(db, w)),
        (f"coverage ({county})", lambda: reports.coverage_report(db, w, region=county)),
        ("coverage (all, today)", lambda: reports.coverage_report(db, latest)),
        (f"coverage ({county}, today)", lambda: reports.coverage_report(db, latest, region=county)),
    ):
        p50, p95 = latency(fn, args.runs)
        print(f"{label:26s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    print(load())
    engine.close()


if __name__ == "__main__":
    main()
