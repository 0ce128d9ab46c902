"""Peak memory of a projection rebuild and of an API worker, against the same process idle.

    PYTHONPATH=. python bench/bench_memory.py --home DIR [--requests 200] [--no-api]

``DIR`` is a data folder written by ``cobuild generate``; it is only read.

Rebuild: a child process opens the engine and a fresh projection database in a temporary
folder (the baseline: its RSS once the imports are done and the engine is open), then
rebuilds the fact store from position zero.  The parent reads the child's ``VmRSS`` from
``/proc/<pid>/status`` every 0.2 s, and its ``VmHWM`` (the kernel's peak) when the rebuild is
done.  The profile prints RSS at each tenth of the rebuild's time: flat means the rebuild
holds a batch at a time, not the log.  Aim: peak below 300 MB.

API worker: the event store and the rebuilt projections are copied into a second temporary
folder (commands write there, never into ``DIR``) and served by ``gunicorn -w 1 --threads 1
api.wsgi:app``.  The worker's RSS is read once it has answered its first request (the
baseline), then after ``--requests`` requests and again after twice as many, half reports
(inactive list, coverage, one county's board, one organisation's evaluation) and half
commands (``POST /tasks``, a village raising a need): the same RSS after N and after 2N
requests means nothing accumulates per request.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_http import free_port
from bench_projections import load
from domain.base import Actor
from projections import reports
from projections.runner import ProjectionRunner
from projections.store import ProjectionDatabase
from workflows.store.settings import Settings
from workflows.engine import open_engine
from workflows.organisations import BOOTSTRAP_ADMIN_ID, AlreadyInitialised
AIM_MB = 300
V = "/api/v1"


def status_mb(pid: int, field: str) -> float:
    """``VmRSS``, ``VmHWM``... of a live process, in MB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


# -- the rebuild ------------------------------------------------------------------------------

def child_rebuild(home: Path, projections: Path) -> None:
    """Runs in the child: open, say so, rebuild, say so, wait to be measured and released."""
    engine = open_engine(Settings(home=home))
    runner = ProjectionRunner(engine, ProjectionDatabase(projections))
    print("ready", flush=True)
    time.sleep(1.0)  # a few samples of the idle process before the rebuild starts
    started = time.perf_counter()
    runner.rebuild()
    print("done", runner.head(), time.perf_counter() - started, flush=True)
    sys.stdin.read()
    engine.close()


def rebuild(home: Path, projections: Path, interval: float = 0.2) -> dict[str, Any]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--child-rebuild", "--home", str(home),
         "--projections", str(projections)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                samples.append(status_mb(child.pid, "VmRSS"))
            except (FileNotFoundError, ProcessLookupError):
                return
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.8)
    idle = status_mb(child.pid, "VmRSS")
    start_index = len(samples)
    _, events, seconds = child.stdout.readline().split()
    peak = status_mb(child.pid, "VmHWM")
    stop.set()
    sampler.join()
    child.stdin.close()
    child.wait(timeout=60)
    during = samples[start_index:]
    tenths = [max(during[len(during) * k // 10:max(len(during) * (k + 1) // 10, len(during) * k // 10 + 1)])
              for k in range(10)] if len(during) >= 10 else during
    return {"events": int(events), "seconds": float(seconds),
            "events_per_s": int(events) / float(seconds), "idle_mb": idle, "peak_mb": peak,
            "profile_mb": tenths, "samples": len(during)}


def print_rebuild(r: dict[str, Any]) -> None:
    print(f"rebuild of {r['events']} events in {r['seconds']:.1f}s ({r['events_per_s']:,.0f} events/s), "
          f"{r['samples']} samples:")
    print(f"  idle after imports and open: {r['idle_mb']:.0f} MB RSS; peak (VmHWM) {r['peak_mb']:.0f} MB"
          f" = {r['peak_mb'] - r['idle_mb']:+.0f} MB over idle; aim < {AIM_MB} MB: "
          f"{'met' if r['peak_mb'] < AIM_MB else 'NOT met'}")
    print("  RSS by tenth of the rebuild (max in each, MB): "
          + " ".join(f"{mb:.0f}" for mb in r["profile_mb"]))


# -- the API worker ---------------------------------------------------------------------------

def copy_store(home: Path, projections: Path, into: Path) -> None:
    into.mkdir(parents=True)
    for name in ("events.sqlite", "events.sqlite-wal"):
        if (home / name).exists():
            shutil.copyfile(home / name, into / name)
    shutil.copyfile(projections, into / "projections.sqlite")


def accounts(home: Path) -> dict[str, str]:
    """An admin's and a village secretary's tokens in the copied store, and what to ask."""
    engine = open_engine(Settings(home=home))
    try:
        try:
            admin_token = engine.bootstrap_admin()
        except AlreadyInitialised:
            admin_token = engine.issue_token(Actor(str(BOOTSTRAP_ADMIN_ID), "admin", region_code=""),
                                             BOOTSTRAP_ADMIN_ID)
        admin = engine.authenticate(admin_token)
        db = ProjectionDatabase(home / "projections.sqlite")
        with reports.open_facts(db) as facts:
            (village,), = facts.rows("SELECT id FROM {p}org WHERE kind = 'village' ORDER BY id LIMIT 1")
            (county, _), = facts.rows("SELECT substr(receiver_region, 1, 6), count(*) FROM {p}pairing"
                                      " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")
            (giver, _), = facts.rows("SELECT giver_id, count(*) FROM {p}pairing"
                                     " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")
        db.close()
        _, village_token = engine.register_user(admin, "内存测试支书", "village", UUID(village))
    finally:
        engine.close()
    return {"admin": admin_token, "villager": village_token, "village": village,
            "county": county, "giver": giver}


def worker_pid(master: int) -> int:
    for _ in range(100):
        path = Path(f"/proc/{master}/task/{master}/children")
        children = path.read_text().split() if path.exists() else []
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def api_worker(home: Path, projections: Path, n: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cobuild-bench-memory-api-"))
    try:
        copy_store(home, projections, work / "home")
        world = accounts(work / "home")
        port = free_port()
        env = {**os.environ, "COBUILD_HOME": str(work / "home"), "PYTHONPATH": str(REPO)}
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "1", "-b",
             f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning", "api.wsgi:app"],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return _drive(f"http://127.0.0.1:{port}", worker_pid(master.pid), world, n)
        finally:
            master.terminate()
            master.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _drive(base: str, pid: int, world: dict[str, str], n: int) -> dict[str, Any]:
    session = requests.Session()
    admin = {"Authorization": f"Bearer {world['admin']}"}
    villager = {"Authorization": f"Bearer {world['villager']}"}
    for _ in range(600):
        try:
            session.get(base + "/api/openapi.json", timeout=300).raise_for_status()
            break
        except requests.RequestException:
            time.sleep(0.1)
    reads = [V + "/reports/inactive?as_of=2025-09-30",
             V + "/reports/coverage?as_of=2025-09-30",
             V + f"/reports/pairings?as_of=2025-09-30&region={world['county']}",
             V + f"/reports/evaluation?year=2025&organisation={world['giver']}"]
    need = {"receiver_id": world["village"], "category": "health", "title": "巡回义诊"}

    def serve(count: int) -> float:
        started = time.perf_counter()
        for i in range(count):
            if i % 2:
                r = session.post(base + V + "/tasks", json=need, headers=villager, timeout=300)
            else:
                r = session.get(base + reads[(i // 2) % len(reads)], headers=admin, timeout=300)
            r.raise_for_status()
        return time.perf_counter() - started

    idle = status_mb(pid, "VmRSS")
    serve(len(reads) * 2)  # each report once, so the baseline below has every code path loaded
    warm = status_mb(pid, "VmRSS")
    first_s = serve(n)
    after_n = status_mb(pid, "VmRSS")
    second_s = serve(n)
    after_2n = status_mb(pid, "VmRSS")
    return {"requests": n, "idle_mb": idle, "warm_mb": warm, "after_n_mb": after_n,
            "after_2n_mb": after_2n, "peak_mb": status_mb(pid, "VmHWM"),
            "seconds_n": first_s, "seconds_2n": second_s}


def print_api(r: dict[str, Any]) -> None:
    print("API worker (gunicorn -w 1 --threads 1), half reports, half POST /tasks:")
    print(f"  after its first request {r['idle_mb']:.0f} MB; after each report once {r['warm_mb']:.0f} MB"
          f" (baseline); after {r['requests']} more requests {r['after_n_mb']:.0f} MB"
          f" ({r['seconds_n']:.1f}s); after {r['requests']} more {r['after_2n_mb']:.0f} MB"
          f" ({r['seconds_2n']:.1f}s); peak (VmHWM) {r['peak_mb']:.0f} MB")
    print(f"  growth over the second {r['requests']} requests: {r['after_2n_mb'] - r['after_n_mb']:+.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-api", action="store_true", help="measure the rebuild only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child-rebuild", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--projections", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rebuild:
        child_rebuild(args.home, args.projections)
        return
    with tempfile.TemporaryDirectory(prefix="cobuild-bench-memory-") as tmp:
        projections = Path(tmp) / "projections.sqlite"
        print(f"{args.home}: {load()}")
        result = {"rebuild": rebuild(args.home, projections)}
        print_rebuild(result["rebuild"])
        if not args.no_api:
            result["api"] = api_worker(args.home, projections, args.requests)
            print_api(result["api"])
        print(load())
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
