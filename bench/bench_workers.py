"""Commands/s and p99 under gunicorn with 1, 2 and 4 workers, on SQLite and on PostgreSQL.

    PYTHONPATH=. python bench/bench_workers.py [--workers 1 2 4] [--seconds 10] [--backend both]
        [--database-url URL] [--broker-url URL] [--out docs/benchmarks]

For each backend and worker count: a fresh store (a temporary SQLite folder; on PostgreSQL a
new database made for the run and dropped after it, never the shared one, with RabbitMQ as the
broker: ``eval "$(sh .ci/services.sh)"`` exports both URLs), ``gunicorn -w N --threads 4``,
the small world of ``bench_http.py``, then wrk sends ``POST /api/v1/tasks`` for ``--seconds``
(``--connections``, default 4 per worker).  Prints commands/s, p50 and p99 per worker count,
each as a ratio against 1 worker of the same backend and against SQLite at the same count, with
the load average; writes ``workers.json`` and ``workers.png`` (matplotlib, the ``bench``
extra) to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_http import V, free_port, setup_world, start, wrk
from tests.support import fresh_settings


def one(backend: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cobuild-bench-workers-")))
        url = args.database_url if backend == "postgresql" else ""
        settings = stack.enter_context(fresh_settings(tmp, url))
        extra = {"COBUILD_DATABASE_URL": settings.database_url} if url else {}
        if url and args.broker_url:
            extra["COBUILD_BROKER_URL"] = args.broker_url
        token, port = secrets.token_urlsafe(24), free_port()
        load = os.getloadavg()[0]
        process = start("gunicorn", settings.home, token, port, workers, args.threads, extra)
        try:
            base = f"http://127.0.0.1:{port}"
            world = setup_world(base, token, args.pairings)
            need = {"receiver_id": world["village"], "category": "health", "title": "巡回义诊"}
            connections = args.connections or 4 * workers
            result = wrk(base + V + "/tasks", world["villager"], args.seconds, connections, need)
        finally:
            process.terminate()
            process.wait(timeout=30)
            shutil.rmtree(settings.home, ignore_errors=True)
    return {"backend": backend, "workers": workers, "threads": args.threads,
            "connections": connections, "seconds": args.seconds, "commands_per_s": result["rps"],
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "non_2xx": result["non_2xx"],
            "load_1min_before": load}


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for backend in sorted({r["backend"] for r in results}):
        rows = sorted((r for r in results if r["backend"] == backend), key=lambda r: r["workers"])
        xs = [r["workers"] for r in rows]
        left.plot(xs, [r["commands_per_s"] for r in rows], marker="o", label=backend)
        right.plot(xs, [r["p99_ms"] for r in rows], marker="o", label=backend)
    for ax, title in ((left, "POST /tasks commands/s"), (right, "p99 ms")):
        ax.set_xlabel("gunicorn workers (4 threads each)")
        ax.set_title(title)
        ax.set_xticks(sorted({r["workers"] for r in results}))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=0, help="wrk connections (0: 4 per worker)")
    parser.add_argument("--pairings", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--database-url", default=os.environ.get("COBUILD_TEST_DATABASE_URL", ""),
                        help="a PostgreSQL database whose role may CREATE DATABASE (a new one per run)")
    parser.add_argument("--broker-url", default=os.environ.get("COBUILD_TEST_BROKER_URL", ""))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "benchmarks")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    if "postgresql" in backends and not args.database_url:
        parser.error("PostgreSQL needs --database-url (or eval \"$(sh .ci/services.sh)\")")

    results = []
    started = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())
    # Worker counts outside, backends inside: a change in the machine's load hits both.
    for workers in args.workers:
        for backend in backends:
            results.append(one(backend, workers, args))
            r = results[-1]
            print(f"  {backend:<10} -w {workers}: {r['commands_per_s']:7.0f} commands/s, "
                  f"p99 {r['p99_ms']:7.1f} ms (load {r['load_1min_before']:.2f})", flush=True)

    print(f"\ngunicorn --threads {args.threads}, POST /api/v1/tasks, {args.seconds} s each, "
          f"{os.cpu_count()} CPUs; load average now " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'backend':<11} {'workers':>7} {'commands/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'vs -w 1':>8} {'vs sqlite':>9} {'non-2xx':>8} {'load':>6}")
    by = {(r["backend"], r["workers"]): r for r in results}
    for r in results:
        first = by.get((r["backend"], min(args.workers)))
        lite = by.get(("sqlite", r["workers"]))
        print(f"{r['backend']:<11} {r['workers']:>7} {r['commands_per_s']:>10.0f} {r['p50_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['commands_per_s'] / first['commands_per_s']:>8.2f} "
              f"{r['commands_per_s'] / lite['commands_per_s'] if lite else float('nan'):>9.2f} "
              f"{r['non_2xx']:>8} {r['load_1min_before']:>6.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "workers.json").write_text(json.dumps(
        {"started": started, "cpus": os.cpu_count(), "results": results}, indent=1) + "\n")
    plot(results, args.out / "workers.png")
    print(f"wrote {args.out / 'workers.json'} and {args.out / 'workers.png'}")


if __name__ == "__main__":
    main()
