"""Benchmark of the verifiable log: write overhead, proof time, whole-store verification rate.

    PYTHONPATH=. python bench/bench_audit.py [--events 5000] [--verify-events 100000]

* save throughput: the same application makes the same number of saves (one event
  each) into a fresh SQLite file, once with eventsourcing's plain recorder and once with
  the audited one; the runs alternate and the best of ``--rounds`` counts, to damp the
  fsync noise of a shared machine.  Aim: audited at most 15 % slower.
* inclusion proof: median time to read one proof from the store (one snapshot, one
  batched node query) at the final tree size.
* whole-store verification: events per second of ``verify_store`` on a store of
  ``--verify-events`` events (written in batches to keep set-up short).  Aim: 100,000/s.
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


def time_saves(workdir: Path, n: int, audited: bool, tag: str) -> float:
    db = workdir / f"{tag}-{'audited' if audited else 'plain'}.sqlite"
    app = make_app(db, audited)
    app.save(Item("warm-up", NOTE))
    start = time.perf_counter()
    for i in range(n):
        app.save(Item(f"item {i}", NOTE))
    elapsed = time.perf_counter() - start
    app.close()
    return elapsed


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
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        work = Path(tmp)
        plain_times, audited_times = [], []
        for r in range(args.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            for audited in order:
                t = time_saves(work, args.events, audited, f"r{r}")
                (audited_times if audited else plain_times).append(t)
        plain, audited = min(plain_times), min(audited_times)
        print(f"saves (1 event each, SQLite file, WAL), {args.events} per run, best of {args.rounds}:")
        print(f"  plain recorder    {args.events / plain:10.0f} saves/s  {plain / args.events * 1e3:.3f} ms/save")
        print(f"  audited recorder  {args.events / audited:10.0f} saves/s  {audited / args.events * 1e3:.3f} ms/save")
        print(f"  audited/plain time ratio {audited / plain:.3f}  (overhead {100 * (audited / plain - 1):+.1f} %, "
              f"aim <= +15 %)")
        print(f"  median of rounds: plain {statistics.median(plain_times):.3f} s, "
              f"audited {statistics.median(audited_times):.3f} s")

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

        t = time.perf_counter()
        cpu = time.process_time()
        result = verify_store(db)
        verify_s = time.perf_counter() - t
        verify_cpu = time.process_time() - cpu
        assert result.ok, result.summary()
        print(f"whole-store verification of {result.events} events ({fill_s:.1f} s to write them in batches):")
        print(f"  {verify_s:.2f} s wall -> {result.events / verify_s:,.0f} events/s (aim >= 100,000/s); "
              f"{verify_cpu:.2f} s CPU -> {result.events / verify_cpu:,.0f} events/s per CPU second")
        print(f"machine load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
