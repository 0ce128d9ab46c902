"""Benchmark of the verifiable log: write overhead, proof time, whole-store verification rate.

    PYTHONPATH=. python bench/bench_audit.py [--events 5000] [--verify-events 100000]

* save throughput: the same application makes the same number of saves (one event
  each) into a fresh SQLite file, once with eventsourcing's plain recorder and once with
  the audited one; the runs alternate, and each round's audited/plain ratio is printed
  (wall clock, which includes the commits' fsync, and CPU time, which does not and so
  says more on a loaded machine), with the median and the worst of ``--rounds``.  Aim:
  audited at most 15 % slower in the median.
* inclusion proof: median time to read one proof from the store (one snapshot, one
  batched node query) at the final tree size.
* whole-store verification: events per second of ``verify_store`` on a store of
  ``--verify-events`` events (written in batches to keep set-up short), ``--verify-runs``
  times; median and worst.  Aim: 100,000/s in every run.

Every row is printed with the machine's load average (``os.getloadavg``): on a shared
machine only the ratios within one run are comparable.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from workflows.audit import merkle
from workflows.audit.recorder import AuditedSQLiteApplicationRecorder, AuditLog, connect_sqlite
from workflows.audit.verify import verify_store

AUDITED = get_topic(AuditedSQLiteApplicationRecorder)


class Item(Aggregate):
    @event("Recorded")
    def __init__(self, title: str, note: str) -> None:
        self.title = title
        self.note = note


class Bench(Application[UUID]):
    """A plain application: the recorder under test comes from its env."""


def make_app(db: Path, audited: bool) -> Bench:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)}
    if audited:
        env["APPLICATION_RECORDER_TOPIC"] = AUDITED
    return Bench(env=env)


NOTE = "承诺为村集体经济提供技术培训，完成时间见台账。" * 3


def time_saves(workdir: Path, n: int, audited: bool, tag: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``n`` saves of one event each."""
    db = workdir / f"{tag}-{'audited' if audited else 'plain'}.sqlite"
    app = make_app(db, audited)
    app.save(Item("warm-up", NOTE))
    items = [Item(f"item {i}", NOTE) for i in range(n)]
    start, cpu = time.perf_counter(), time.process_time()
    for item in items:
        app.save(item)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    app.close()
    return elapsed, cpu


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def fill(db: Path, n: int, batch: int = 200) -> None:
    app = make_app(db, audited=True)
    done = 0
    while done < n:
        k = min(batch, n - done)
        app.save(*[Item(f"item {done + j}", NOTE) for j in range(k)])
        done += k
    app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="saves per write run (one event each)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating plain/audited rounds")
    parser.add_argument("--verify-events", type=int, default=100_000, help="store size for the verify rate")
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--verify-runs", type=int, default=3, help="whole-store verifications to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        work = Path(tmp)
        print(f"saves (1 event each, SQLite file, WAL), {args.events} per run, {args.rounds} rounds:")
        wall_ratios, cpu_ratios = [], []
        for r in range(args.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            times = {audited: time_saves(work, args.events, audited, f"r{r}") for audited in order}
            (plain, plain_cpu), (audited, audited_cpu) = times[False], times[True]
            wall_ratios.append(audited / plain)
            cpu_ratios.append(audited_cpu / plain_cpu)
            print(f"  round {r + 1}: plain {args.events / plain:5.0f} saves/s "
                  f"({plain_cpu / args.events * 1e6:4.0f} us CPU"
                  f"/save), audited {args.events / audited:5.0f} saves/s ({audited_cpu / args.events * 1e6:4.0f} us CPU"
                  f"/save): audited/plain x{wall_ratios[-1]:.3f} wall, x{cpu_ratios[-1]:.3f} CPU; {load()}")
        print(f"  audited/plain: wall median x{statistics.median(wall_ratios):.3f} worst x{max(wall_ratios):.3f}; "
              f"CPU median x{statistics.median(cpu_ratios):.3f} worst x{max(cpu_ratios):.3f} (aim <= x1.150)")

        db = work / "verify.sqlite"
        t0 = time.perf_counter()
        fill(db, args.verify_events)
        fill_s = time.perf_counter() - t0
        conn = connect_sqlite(db)
        log = AuditLog.from_connection(conn)
        size, root = log.head()
        rng = random.Random(1)
        timings = []
        for _ in range(args.proofs):
            index = rng.randrange(size)
            t = time.perf_counter()
            proof = log.inclusion_proof(index, size)
            timings.append(time.perf_counter() - t)
            leaf = log.leaf(index)
            merkle.verify_inclusion(index, size, merkle.leaf_hash(leaf.leaf_input), proof, root)
        conn.close()
        timings.sort()
        print(f"inclusion proof at tree size {size} ({len(proof)} hashes), {args.proofs} random leaves:")
        p99 = timings[int(0.99 * len(timings))]
        print(f"  median {statistics.median(timings) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms")

        print(f"whole-store verification of {args.verify_events} events ({fill_s:.1f} s to write them in batches):")
        rates = []
        for run in range(args.verify_runs):
            t = time.perf_counter()
            before = os.times()
            result = verify_store(db)
            verify_s = time.perf_counter() - t
            after = os.times()
            # This process and the child that checks the upper part (joined by now).
            verify_cpu = sum(after[:4]) - sum(before[:4])
            assert result.ok, result.summary()
            rates.append(result.events / verify_s)
            print(f"  run {run + 1}: {verify_s:.2f} s wall -> {rates[-1]:,.0f} events/s; "
                  f"{verify_cpu:.2f} s CPU in both "
                  f"processes -> {result.events / verify_cpu:,.0f} events per CPU second; {load()}")
        print(f"  median {statistics.median(rates):,.0f} events/s, worst {min(rates):,.0f} events/s "
              f"= x{min(rates) / 100_000:.2f} of the aim (100,000/s in every run)")


if __name__ == "__main__":
    main()
