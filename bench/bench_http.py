"""HTTP throughput and latency: a command and a read, on ``cobuild serve`` and under gunicorn.

    PYTHONPATH=. python bench/bench_http.py [--seconds 10] [--connections 8] [--server both]
                                            [--pairings 100] [--serve-processes 1]

Needs ``wrk`` (Debian: ``apt-get install -y wrk``).  Each server gets a fresh data folder;
the load comes from wrk in its own process over loopback.  The command is ``POST /tasks``
(a village raises a need: one new aggregate per request, so no request loses a race); the
reads are ``GET /pairings/<id>``, the pairing's audit history, and the report: the first
page (50 rows) of the inactive list of a county with ``--pairings`` pairings in force, as of
130 days after they were signed, when every one of them hits R1.  The needs are raised by a
village of their own, so the report's villages keep a few tasks each, not the thousands the
command load writes.

Baseline, same server, same run: a path no route serves (a 404 that reads nothing and
authenticates no one), the floor of the HTTP server and the framework; ``floor/req`` is its
requests/s over each request's.  The load average is printed for each server.  The command's
baseline is the engine in this process answering the same command (``engine_rate``: a village
raises a need, one thread, a fresh SQLite store), measured first; the last lines give issue
#17's rows as ratios against their baselines of this run (POST /tasks against the engine, a
pairing's read against the floor, serve against gunicorn).  ``--serve-processes N`` runs
``cobuild serve --processes N``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
V = "/api/v1"
FLOOR = "GET /no-such-page (404: the floor)"
COMMAND = "POST /tasks (command)"
READ = "GET /pairings/<id> (read)"
REPORT = "GET /reports/inactive (report, 50 rows)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, home: Path, token: str, port: int, workers: int = 2, threads: int = 4,
          extra_env: dict[str, str] | None = None, serve_processes: int = 1) -> subprocess.Popen:
    env = {**os.environ, "COBUILD_HOME": str(home), "COBUILD_BOOTSTRAP_TOKEN": token,
           "PYTHONPATH": str(REPO), **(extra_env or {})}
    if kind == "embedded":
        cmd = [sys.executable, "-m", "api.serve", "--port", str(port), "--processes", str(serve_processes)]
    else:
        # gunicorn workers do not create the first admin: initialise the folder first.
        subprocess.run([sys.executable, "-c", "from api.cli.main import cli; cli(['init'])"],
                       env=env, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        cmd = [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads), "-b",
               f"127.0.0.1:{port}", "--log-level", "warning", "api.wsgi:app"]
    process = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(base + "/api/openapi.json", timeout=10)
            return process
        except requests.RequestException:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{kind} server did not start")


def setup_world(base: str, token: str, pairings: int) -> dict[str, str]:
    session = requests.Session()

    def post(path: str, body: dict, as_token: str = token) -> dict:
        r = session.post(base + V + path, json=body, headers={"Authorization": f"Bearer {as_token}"})
        if not r.ok:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return r.json()

    giver = post("/organisations", {"code": "G1", "name": "县财政局机关党委", "kind": "agency",
                                    "region_code": "331123000000"})["id"]
    village = post("/organisations", {"code": "V1", "name": "石练村党支部", "kind": "village",
                                      "region_code": "331123101201"})["id"]
    agency = post("/users", {"name": "王书记", "role": "agency", "organisation_id": giver})["token"]
    villager = post("/users", {"name": "李支书", "role": "village", "organisation_id": village})["token"]
    p = post("/pairings", {"giver_id": giver, "receiver_id": village, "term_start": "2025-01-01",
                           "term_end": "2027-12-31"}, agency)["id"]
    post(f"/pairings/{p}/accept", {}, villager)
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    post(f"/pairings/{p}/sign-agreement", {"signed_on": today}, agency)
    post(f"/pairings/{p}/sign-agreement", {"signed_on": today}, villager)
    for n in range(pairings):
        other = post("/organisations", {"code": f"B{n}", "name": f"第{n}村党支部", "kind": "village",
                                        "region_code": f"331123{102 + n // 100:03d}{n % 100:03d}"})["id"]
        # Each side by its own people (two parties, two people: no one enters both sides).
        other_user = post("/users", {"name": f"第{n}村支书", "role": "village",
                                     "organisation_id": other})["token"]
        q = post("/pairings", {"giver_id": giver, "receiver_id": other, "term_start": "2025-01-01",
                               "term_end": "2027-12-31"}, agency)["id"]
        post(f"/pairings/{q}/accept", {}, other_user)
        post(f"/pairings/{q}/sign-agreement", {"signed_on": today}, agency)
        post(f"/pairings/{q}/sign-agreement", {"signed_on": today}, other_user)
    needy = post("/organisations", {"code": "N1", "name": "需求村党支部", "kind": "village",
                                    "region_code": "331123199001"})["id"]
    needy_user = post("/users", {"name": "周支书", "role": "village", "organisation_id": needy})["token"]
    later = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600 + 130 * 86400))
    return {"village": needy, "villager": needy_user, "pairing": p, "reader": villager,
            "evaluator": post("/users", {"name": "县考核组", "role": "evaluator",
                                         "region_code": "331123"})["token"],
            "report": f"/reports/inactive?as_of={later}"}


def wrk(url: str, token: str, seconds: int, connections: int, body: dict | None = None) -> dict:
    script = ["wrk.headers['Authorization'] = 'Bearer " + token + "'"]
    if body is not None:
        script += ["wrk.method = 'POST'", "wrk.headers['Content-Type'] = 'application/json'",
                   "wrk.body = '" + json.dumps(body, ensure_ascii=False).replace("'", "\\'") + "'"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as handle:
        handle.write("\n".join(script) + "\n")
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s",
                          "--latency", "-s", handle.name, url],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(handle.name)

    def millis(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": millis("50%"), "p99_ms": millis("99%"),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "non_2xx": int(errors.group(1)) if errors else 0}


def bench(kind: str, seconds: int, connections: int, pairings: int,
          serve_processes: int = 1) -> list[tuple[str, dict]]:
    home = Path(tempfile.mkdtemp(prefix=f"cobuild-bench-{kind}-"))
    token = secrets.token_urlsafe(24)
    port = free_port()
    process = start(kind, home / "var", token, port, serve_processes=serve_processes)
    base = f"http://127.0.0.1:{port}"
    try:
        world = setup_world(base, token, pairings)
        need = {"receiver_id": world["village"], "category": "health", "title": "巡回义诊"}
        report = requests.get(base + V + world["report"], timeout=60,
                              headers={"Authorization": f"Bearer {world['evaluator']}"}).json()
        assert len(report["items"]) == min(50, pairings + 1), report
        results = [
            # The floor of the server and the framework: a path no route serves (404), which
            # reads nothing and authenticates no one; every other row is compared to it.
            (FLOOR, wrk(base + "/no-such-page", world["reader"], seconds, connections)),
            (COMMAND, wrk(base + V + "/tasks", world["villager"], seconds,
                                          connections, need)),
            (READ, wrk(base + V + f"/pairings/{world['pairing']}",
                                              world["reader"], seconds, connections)),
            ("GET /audit/pairings/<id>/history (read)",
             wrk(base + V + f"/audit/pairings/{world['pairing']}/history", world["reader"],
                 seconds, connections)),
            (REPORT,
             wrk(base + V + world["report"], world["evaluator"], seconds, connections)),
        ]
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    return results


def engine_rate(commands: int = 2000) -> float:
    """The same command as POST /tasks (a village raises a need) called on the engine in this
    process, one thread, on a fresh SQLite store: the baseline of the HTTP command rows."""
    from workflows.engine import open_engine
    from workflows.store.settings import Settings

    with tempfile.TemporaryDirectory(prefix="cobuild-bench-engine-") as folder:
        engine = open_engine(Settings(home=Path(folder)))
        try:
            admin = engine.authenticate(engine.bootstrap_admin())
            village = engine.register_organisation(admin, "V0", "村0", "village", "331123101201").id
            villager = engine.authenticate(engine.register_user(admin, "v0", "village", village)[1])
            for _ in range(100):  # warm: imports, caches
                engine.raise_need(villager, village, "health", "巡回义诊")
            begin = time.perf_counter()
            for _ in range(commands):
                engine.raise_need(villager, village, "health", "巡回义诊")
            return commands / (time.perf_counter() - begin)
        finally:
            engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--server", choices=("embedded", "gunicorn", "both"), default="both")
    parser.add_argument("--pairings", type=int, default=100,
                        help="pairings in force besides the first (the report's rows)")
    parser.add_argument("--serve-processes", type=int, default=1,
                        help="cobuild serve --processes (1: the embedded default, one process)")
    args = parser.parse_args()
    kinds = ("embedded", "gunicorn") if args.server == "both" else (args.server,)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    engine = engine_rate()
    print(f"engine in process, the same command (a village raises a need): {engine:.0f} commands/s;"
          f" load average {load}")
    print(f"{'server':<26} {'request':<42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
          f" {'floor/req':>9}")
    rows: dict[str, dict[str, dict]] = {}
    for kind in kinds:
        label = ("cobuild serve" + (f" --processes {args.serve_processes}" if args.serve_processes > 1 else "")
                 if kind == "embedded" else "gunicorn -w 2 --threads 4")
        print(f"{label}: load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        results = bench(kind, args.seconds, args.connections, args.pairings, args.serve_processes)
        rows[kind] = dict(results)
        floor = rows[kind][FLOOR]["rps"]
        for name, r in results:
            print(f"{label:<26} {name:<42} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} "
                  f"{r['p99_ms']:>8.1f} {r['non_2xx']:>8} {floor / r['rps']:>9.2f}")
    # The issue #17 rows, each against its baseline of this run.
    for kind, got in rows.items():
        print(f"{kind}: POST /tasks / engine in process x{got[COMMAND]['rps'] / engine:.2f}; "
              f"GET /pairings/<id> / floor x{got[READ]['rps'] / got[FLOOR]['rps']:.2f} (aim >= 0.5); "
              f"inactive report p99 {got[REPORT]['p99_ms']:.1f} ms (aim < 100)")
    if len(rows) == 2:
        print(f"serve / gunicorn POST /tasks x{rows['embedded'][COMMAND]['rps'] / rows['gunicorn'][COMMAND]['rps']:.2f}"
              " (aim >= 0.7); gunicorn / engine aim >= 0.8")


if __name__ == "__main__":
    main()
