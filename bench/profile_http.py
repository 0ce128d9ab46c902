"""Where an HTTP request's time goes: CPU per request, SQL statements per request, profile.

    PYTHONPATH=. python bench/profile_http.py [--requests 200] [--top 25] [--database-url URL]

Requests go through the real WSGI application (``api.app.create_app``, the API and the
pages, as gunicorn and ``cobuild serve`` run it), called in this process with a prepared
WSGI environ, so no server and no network is measured: only the application.  For each
request kind it prints wall and CPU milliseconds per request, the SQL statements each
request sends (counted on every connection the process opens, by store and by verb), the
time in each phase (cumulative profile time of the functions that make it) and, with
``--top``, the profile's top entries.

Kinds: the floor (a 404 that reads nothing), ``POST /api/v1/tasks`` (a new aggregate),
``POST .../activities/<a>/cosign`` (a command on an existing pairing with a history of
``--history`` activities), the same co-sign with an ``Idempotency-Key``, and ``GET
/api/v1/pairings/<id>``; and, as the baseline of the commands, the same two commands called
on the engine in process (what ``bench_engine.py`` measures).  Ratios are printed against the
floor and against the engine, same run, with the load average.

SQLite by default (a temporary folder); ``--database-url`` runs on a fresh PostgreSQL
database made for the run and dropped after it (``tests.support.fresh_settings``).  On
PostgreSQL the statements are those sent through a cursor: psycopg's own BEGIN, COMMIT and
ROLLBACK of ``connection.transaction()`` are not counted (on SQLite they are).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.test import EnvironBuilder

# -- counting SQL statements ---------------------------------------------------------------


LITERAL = re.compile(r"x'[0-9a-fA-F]*'|'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


class Statements:
    """Every statement any connection of this process sends, by store and verb."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.shapes: Counter[str] = Counter()
        self.on = False
        self.lock = threading.Lock()

    def seen(self, store: str, sql: str) -> None:
        if not self.on or sql.startswith("--"):  # "-- TRIGGER": a statement inside a trigger
            return
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "(empty)"
        shape = re.sub(r"\s+", " ", LITERAL.sub("?", sql.strip()))[:110]
        with self.lock:
            self.counts[(store, verb)] += 1
            self.shapes[f"{store}: {shape}"] += 1

    def reset(self) -> None:
        self.counts.clear()
        self.shapes.clear()


STATEMENTS = Statements()


def count_sqlite() -> None:
    real = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(database, *args, **kwargs)
        store = Path(str(database).split("?")[0]).name.replace(".sqlite", "") or "?"
        conn.set_trace_callback(lambda sql: STATEMENTS.seen(store, sql))
        return conn

    sqlite3.connect = connect  # type: ignore[assignment]


def count_postgres() -> None:
    import psycopg

    for cls in (psycopg.Cursor, psycopg.ClientCursor):
        for name in ("execute", "executemany"):
            real = getattr(cls, name)

            def wrapped(self: Any, query: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
                text = query if isinstance(query, str) else query.as_string(self.connection)
                STATEMENTS.seen("pg", str(text))
                return _real(self, query, *args, **kwargs)

            setattr(cls, name, wrapped)


# -- phases: cumulative profile time of the functions that make each -----------------------

PHASES: list[tuple[str, str, str]] = [
    # (phase, file ending, function)
    ("token lookup (authenticate)", "workflows/organisations.py", "authenticate"),
    ("  of which the kept token's check", "workflows/core.py", "recorded_versions"),
    ("idempotency claim", "api/http/app.py", "_claim_idempotency_key"),
    ("idempotency settle", "api/http/app.py", "_settle_idempotency_key"),
    ("body check (JSON parse)", "api/http/app.py", "_check_body"),
    ("schema load (marshmallow)", "marshmallow/schema.py", "load"),
    ("schema dump (marshmallow)", "marshmallow/schema.py", "dump"),
    ("aggregate load (library repository.get)", "eventsourcing/application.py", "get"),
    ("aggregate load (engine's cache, fast-forward)", "workflows/core.py", "get"),
    ("organisation facts", "workflows/core.py", "organisation_facts"),
    ("rule set lookup (current_rules)", "workflows/core.py", "current_rules"),
    ("commit (events + receipt + leaves)", "workflows/core.py", "_save_all"),
    ("  of which audit leaves", "workflows/audit/recorder.py", "append"),
    ("security headers", "api/http/security.py", "security_headers"),
    ("view function", "flask/app.py", "dispatch_request"),
    ("whole WSGI call", "flask/app.py", "wsgi_app"),
]


def phase_table(stats: pstats.Stats, requests: int) -> list[tuple[str, float, int]]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for phase, ending, func in PHASES:
        total, calls = 0.0, 0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in raw.items():
            if name == func and filename.replace("\\", "/").endswith(ending):
                total += ct
                calls += nc
        if calls:
            rows.append((phase, 1000 * total / requests, calls))
    return rows


# -- the world ---------------------------------------------------------------------------

def build(settings: Any, history: int, requests: int, kinds: int = 3) -> dict[str, Any]:
    """Pairings of one giving agency with villages, each with a history of ``history``
    activities recorded and co-signed (a year of a pairing is a few dozen: the province store
    averages ~100 events a pairing), and activities left to co-sign, at most ten a pairing
    for each of the ``kinds`` of request that co-sign."""
    from api.app import create_app
    from api.root import Root
    from workflows.store.clock import SystemClock

    root = Root(settings, clock=SystemClock())
    app = create_app(root)
    engine = root.engine
    admin = engine.authenticate(engine.bootstrap_admin())
    count = (requests + 1 + 9) // 10 + 1  # each pairing gets at most 2 x 10 co-signs of a kind
    with engine.batch():
        giver = engine.register_organisation(admin, "G1", "县财政局机关党委", "agency", "331123000000").id
        _, giver_token = engine.register_user(admin, "王书记", "agency", giver)
        villages = []
        for n in range(count):
            village = engine.register_organisation(admin, f"V{n}", f"第{n}村党支部", "village",
                                                   f"331123101{n % 900 + 100:03d}").id
            villages.append((village, engine.register_user(admin, f"支书{n}", "village", village)[1]))
    ga = engine.authenticate(giver_token)
    today = engine.today()
    parties = []
    for village, token in villages:
        va = engine.authenticate(token)
        with engine.batch():
            p = engine.propose_pairing(ga, giver, village, date(2025, 1, 1), date(2027, 12, 31)).id
            engine.accept_pairing(va, p)
            engine.sign_agreement(ga, p, today)
            engine.sign_agreement(va, p, today)
            for _ in range(history):
                a = engine.record_activity(ga, p, "visit", "入户走访", engine.clock.now()).details["activity_id"]
                engine.cosign_activity(va, p, a)
            pending = [engine.record_activity(ga, p, "visit", "入户走访", engine.clock.now()).details["activity_id"]
                       for _ in range(20 * kinds)]
        parties.append({"pairing": p, "village": village, "token": token, "actor": va, "pending": pending})
    # Request i co-signs on pairing i % count: the co-signs of one kind spread over the pairings.
    return {"root": root, "app": app, "engine": engine, "parties": parties}


def environ(method: str, path: str, token: str, body: dict | None = None,
            key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    builder = EnvironBuilder(path=path, method=method, headers=headers,
                             data=None if body is None else json.dumps(body, ensure_ascii=False),
                             content_type=None if body is None else "application/json")
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call(app: Any, env: dict[str, Any]) -> int:
    status: list[str] = []
    body = app(env, lambda s, h, exc_info=None: status.append(s))
    try:
        for _ in body:
            pass
    finally:
        getattr(body, "close", lambda: None)()
    return int(status[0].split()[0])


def measure(name: str, run_one: Callable[[int], Any], requests: int, top: int,
            expect: int | None = None) -> dict[str, Any]:
    """Requests 0..n-1 timed (no profiler: it would weigh call-heavy code such as deepcopy
    several times over), requests n..2n-1 profiled; statements counted on both."""
    run_one(-1)  # warm-up (the first connection of this thread, the imports)
    STATEMENTS.reset()
    STATEMENTS.on = True
    wall0, cpu0 = time.perf_counter(), time.process_time()
    statuses = Counter(run_one(i) for i in range(requests))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    profile = cProfile.Profile()
    profile.enable()
    statuses.update(run_one(i) for i in range(requests, 2 * requests))
    profile.disable()
    STATEMENTS.on = False
    if expect is not None and set(statuses) != {expect}:
        raise SystemExit(f"{name}: answered {dict(statuses)}, expected {expect}")
    stats = pstats.Stats(profile)
    text = io.StringIO()
    if top:
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(top)
    done = 2 * requests
    return {"name": name, "requests": requests, "statuses": dict(statuses),
            "wall_ms": 1000 * wall / requests, "cpu_ms": 1000 * cpu / requests,
            "statements": {f"{s} {v}": c / done for (s, v), c in sorted(STATEMENTS.counts.items())},
            "statements_total": sum(STATEMENTS.counts.values()) / done,
            "shapes": {k: v / done for k, v in STATEMENTS.shapes.most_common(25)},
            "phases": phase_table(stats, requests), "profile": text.getvalue()}


def report(result: dict[str, Any], floor: dict[str, Any] | None, engine_side: dict[str, Any] | None,
           shapes: bool) -> None:
    print(f"\n== {result['name']}: {result['requests']} timed + as many profiled, answers {result['statuses']}")
    line = f"   wall {result['wall_ms']:.2f} ms/request, CPU {result['cpu_ms']:.2f} ms/request"
    if floor is not None:
        line += f"; floor/request (CPU) {floor['cpu_ms'] / result['cpu_ms']:.2f}"
    if engine_side is not None:
        line += f"; engine/HTTP (CPU) {engine_side['cpu_ms'] / result['cpu_ms']:.2f}"
    print(line)
    print(f"   SQL statements per request: {result['statements_total']:.1f}  " + ", ".join(
        f"{k} {v:.1f}" for k, v in result["statements"].items()))
    if shapes:
        for shape, n in result["shapes"].items():
            print(f"      {n:5.2f}  {shape}")
    if result["phases"]:
        print("   phase (profiled, cumulative, overlapping)  ms/request   calls")
        for phase, ms, calls in result["phases"]:
            print(f"   {phase:<42} {ms:10.3f} {calls:7d}")
    if result["profile"]:
        print(result["profile"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--history", type=int, default=30,
                        help="activities already on the co-signed pairing")
    parser.add_argument("--top", type=int, default=0, help="print the profile's top N (by own time)")
    parser.add_argument("--shapes", action="store_true", help="print each statement with its count")
    parser.add_argument("--database-url", default="", help="PostgreSQL (a fresh database per run)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    from domain.pairing import Pairing
    from tests.support import fresh_settings

    if args.database_url:
        count_postgres()
    else:
        count_sqlite()
    load = os.getloadavg()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        settings = stack.enter_context(fresh_settings(tmp / "store", args.database_url))
        world = build(settings, args.history, args.requests)
        stack.callback(world["root"].close)
        app, engine, n = world["app"], world["engine"], args.requests
        parties = world["parties"]
        first = parties[0]
        need = {"receiver_id": str(first["village"]), "category": "health", "title": "巡回义诊"}
        v = "/api/v1"

        def party(i: int) -> dict[str, Any]:
            return parties[i % len(parties)]

        def cosign_env(i: int, key: str | None = None) -> dict[str, Any]:
            who = party(i)
            return environ("POST", f"{v}/pairings/{who['pairing']}/activities/{who['pending'].pop()}/cosign",
                           who["token"], {}, key)

        def prepared(make: Callable[[int], dict[str, Any]]) -> Callable[[int], int]:
            envs = {i: make(i) for i in range(-1, 2 * n)}
            return lambda i: call(app, envs[i])

        results = {}
        results["floor"] = measure("GET /no-such-page (404: the floor)", prepared(
            lambda i: environ("GET", "/no-such-page", first["token"])), n, args.top, 404)
        results["raise"] = measure("POST /api/v1/tasks (raise a need)", prepared(
            lambda i: environ("POST", f"{v}/tasks", first["token"], need)), n, args.top, 201)
        results["cosign"] = measure("POST /api/v1/pairings/<id>/activities/<a>/cosign",
                                    prepared(cosign_env), n, args.top, 200)
        results["cosign_keyed"] = measure("the same co-sign with an Idempotency-Key", prepared(
            lambda i: cosign_env(i, f"k{i}")), n, args.top, 200)
        results["read"] = measure("GET /api/v1/pairings/<id>", prepared(
            lambda i: environ("GET", f"{v}/pairings/{party(i)['pairing']}", party(i)["token"])),
            n, args.top, 200)
        va = first["actor"]
        results["engine_raise"] = measure("engine.raise_need in process (baseline)", lambda i: bool(
            engine.raise_need(va, first["village"], "health", "巡回义诊")), n, args.top)
        engine_cosigns = {i: (party(i)["actor"], party(i)["pairing"], party(i)["pending"].pop())
                          for i in range(-1, 2 * n)}
        results["engine_cosign"] = measure("engine.cosign_activity in process (baseline)", lambda i: bool(
            engine.cosign_activity(*engine_cosigns[i])), n, args.top)
        results["engine_read"] = measure("engine.read(Pairing) in process (baseline)", lambda i: bool(
            engine.read(party(i)["actor"], Pairing, party(i)["pairing"])), n, args.top)

    floor = results["floor"]
    print(f"{'PostgreSQL' if args.database_url else 'SQLite'}, {n} requests a kind, pairing history "
          f"{args.history} activities; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before, "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" after, on {os.cpu_count()} CPUs")
    for key, result in results.items():
        engine_side = {"raise": results["engine_raise"], "cosign": results["engine_cosign"],
                       "cosign_keyed": results["engine_cosign"], "read": results["engine_read"]}.get(key)
        report(result, None if key == "floor" else floor, engine_side, args.shapes)
    if args.json:
        args.json.write_text(json.dumps({k: {x: y for x, y in r.items() if x != "profile"}
                                         for k, r in results.items()}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
