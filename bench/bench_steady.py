"""Command latency at a steady offered load: p50/p99 of POST /tasks at half the measured rate.

    PYTHONPATH=. python bench/bench_steady.py [--server gunicorn|embedded] [--seconds 20]
                                              [--fraction 0.5] [--rate R] [--pairings 20]

1. The closed-loop maximum: wrk (as ``bench_http.py``) sends ``POST /api/v1/tasks`` as fast as
   the server answers, for ``--seconds``: commands/s.
2. The steady load: ``--fraction`` of that rate (or ``--rate``), offered open-loop for
   ``--seconds``: request k is due at start + k/rate whether or not earlier ones were
   answered (Debian's wrk has no constant-rate mode; wrk2 is not packaged), and its latency
   runs from when it was *due*, so a server that falls behind shows it in the tail (no
   coordinated omission).  The requests are sent by ``--senders`` threads of this process,
   each on its own keep-alive connection.
3. The floor, same rate, same generator: ``GET /no-such-page`` (a 404 that reads nothing).
   Its latency is the generator's own overhead plus the server's floor: what it adds to the
   command's figures.

Aim (issue #17): the command's p99 < 50 ms at half the measured rate.  Prints the load average.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_http import V, free_port, setup_world, start, wrk


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def open_loop(port: int, method: str, path: str, token: str, body: dict | None, rate: float,
              seconds: float, senders: int) -> dict[str, Any]:
    """Offer ``rate`` requests/s for ``seconds``; latency measured from each request's due time."""
    payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    due: queue.Queue[float | None] = queue.Queue()
    latencies: list[float] = []
    late_starts: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            when = due.get()
            if when is None:
                break
            wait = when - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            started = time.perf_counter()
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            done = time.perf_counter()
            with lock:
                latencies.append(done - when)
                late_starts.append(max(0.0, started - when))
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    total = int(rate * seconds)
    begin = time.perf_counter() + 0.2
    for k in range(total):
        due.put(begin + k / rate)
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    ms = [1000 * x for x in latencies]
    return {"offered_per_s": rate, "requests": total, "answered_per_s": len(ms) / elapsed,
            "p50_ms": statistics.median(ms), "p90_ms": percentile(ms, 0.90),
            "p99_ms": percentile(ms, 0.99), "max_ms": max(ms),
            "start_late_p99_ms": 1000 * percentile(late_starts, 0.99), "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("gunicorn", "embedded"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8, help="wrk's, for the maximum")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the measured maximum")
    parser.add_argument("--rate", type=float, help="offer this rate instead (requests/s)")
    parser.add_argument("--senders", type=int, default=16, help="open-loop sender threads")
    parser.add_argument("--pairings", type=int, default=20)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cobuild-bench-steady-"))
    token = secrets.token_urlsafe(24)
    port = free_port()
    load_before = os.getloadavg()
    process = start(args.server, home / "var", token, port, args.workers, args.threads)
    base = f"http://127.0.0.1:{port}"
    try:
        world = setup_world(base, token, args.pairings)
        need = {"receiver_id": world["village"], "category": "health", "title": "巡回义诊"}
        maximum = wrk(base + V + "/tasks", world["villager"], args.seconds, args.connections, need)
        rate = args.rate or max(1.0, args.fraction * maximum["rps"])
        time.sleep(1)
        command = open_loop(port, "POST", V + "/tasks", world["villager"], need, rate,
                            args.seconds, args.senders)
        floor = open_loop(port, "GET", "/no-such-page", world["villager"], None, rate,
                          args.seconds, args.senders)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    label = "cobuild serve" if args.server == "embedded" else \
        f"gunicorn -w {args.workers} --threads {args.threads}"
    print(f"{label}; load average " + " ".join(f"{x:.2f}" for x in load_before) + " before, "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" after, on {os.cpu_count()} CPUs")
    print(f"closed-loop maximum (wrk -c {args.connections}, {args.seconds} s): POST /tasks "
          f"{maximum['rps']:.0f} commands/s, p50 {maximum['p50_ms']:.1f} ms, p99 {maximum['p99_ms']:.1f} ms")
    print(f"open loop at {rate:.1f} requests/s ({rate / maximum['rps']:.2f} of the maximum), "
          f"{args.seconds} s, {args.senders} senders; latency from each request's due time:")
    print(f"{'request':<30} {'answered/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
          f" {'late p99':>8}  answers")
    for name, r in (("POST /tasks (command)", command), ("GET /no-such-page (floor)", floor)):
        print(f"{name:<30} {r['answered_per_s']:>10.1f} {r['p50_ms']:>8.1f} {r['p90_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['start_late_p99_ms']:>8.1f}  {r['statuses']}")
    print(f"command p99 {command['p99_ms']:.1f} ms (aim < 50 ms: {'met' if command['p99_ms'] < 50 else 'not met'}); "
          f"floor p99 {floor['p99_ms']:.1f} ms is the generator's overhead plus the server's floor; "
          "'late p99' is how late the generator itself sent (its own lag)")


if __name__ == "__main__":
    main()
