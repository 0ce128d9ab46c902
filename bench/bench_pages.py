"""People's pages against the JSON behind them: p95 of 待办, the township 联而不动 board and a
pairing page, each beside the JSON request that answers the same question, same run.

    PYTHONPATH=. python bench/bench_pages.py --home DIR [--runs 50] [--write-users]

``DIR`` is an embedded (SQLite) store (``COBUILD_HOME``), e.g. one from ``cobuild generate --scale county`` or
``--scale province``.  Pages need a signed-in person, so the script registers two users (a
village secretary of the first pairing the
``联而不动`` list names, and a supervisor of its township) with a
login each, activates them and signs in through ``/login``, as a person does.  **What it
writes:** those two users, their logins and tokens (User, LoginName and AccessToken events).
By default it writes them to a *copy* of the store made in a temporary folder (the store at
``DIR`` is only read, and must not be written by anyone while it is copied); with
``--write-users`` it writes them to ``DIR`` itself (no copy: for a store that may take two
more users).

Requests go through the real WSGI application in this process (``api.app.create_app``, the
Flask test client with the person's cookie; the JSON with the user's bearer token), one warm-up
each, then ``--runs`` alternating page and JSON.  Pairs:

- ``GET /todo`` (待办) against ``GET /api/v1/reports/inbox`` (the village's inbox);
- ``GET /board?region=<township>`` (联而不动) against ``GET /api/v1/reports/inactive?region=
  <township>&limit=200`` (the board lists up to 200 rows);
- ``GET /pairings/<id>`` against ``GET /api/v1/pairings/<id>``, and against that plus the
  pairing's history (``/api/v1/audit/pairings/<id>/history``), which the page shows too.

Prints p50 and p95 of each, the ratio page/JSON (p95 and p50) and the load average.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "Bench-pages-2026!"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def listed_pairing(root: Any) -> tuple[UUID, UUID, str]:
    """The first pairing of the whole store's 联而不动 list (so the board of its township has
    rows): (pairing, its village, the township's code)."""
    from projections.queries import Query
    from projections.reports import Window

    reports = root.reports
    reports.caught_up()
    items = reports.inactive(Query(Window(root.engine.today()), reports.rules(), limit=1))["items"]
    if not items:
        raise SystemExit("no pairing in this store is paired but inactive (联而不动)")
    item = items[0]
    return UUID(str(item["pairing_id"])), UUID(str(item["receiver_id"])), str(item["region_code"])[:9]


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="the store (COBUILD_HOME)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--write-users", action="store_true",
                        help="register the two users in the store itself instead of in a copy")
    args = parser.parse_args()

    from api.app import create_app
    from api.root import Root
    from domain.base import SYSTEM
    from workflows.store.settings import Settings

    source = args.home.resolve()
    if not (source / "events.sqlite").exists():
        raise SystemExit(f"{source} holds no embedded store (events.sqlite)")
    tmp = None
    home = source
    if not args.write_users:
        tmp = Path(tempfile.mkdtemp(prefix="cobuild-bench-pages-"))
        home = tmp / "var"
        started = time.perf_counter()
        shutil.copytree(source, home, ignore=shutil.ignore_patterns("*.lock", "broker"))
        print(f"copied {source} to {home} in {time.perf_counter() - started:.0f} s "
              "(the two users are written to the copy only)")
    try:
        root = Root(Settings(home=home))
        app = create_app(root)
        engine = root.engine
        pairing, village, township = listed_pairing(root)
        suffix = os.urandom(3).hex()
        # The engine's own actor, over the whole country: registers the bench's two people
        # (the store's first admin and its token are not needed).
        everywhere = dataclasses.replace(SYSTEM, region_code="")
        people = {}
        for key, name, role, org, region in (
                ("village", "基准支书", "village", village, None),
                ("supervisor", "基准督查", "supervisor", None, township)):
            login = f"bench{key[:3]}{suffix}"
            outcome, token = engine.register_user(everywhere, name, role, org, region, login=login)
            engine.activate_account(login, outcome.details["activation_code"], PASSWORD)
            client = app.test_client()
            form = client.get("/login").get_data(as_text=True)
            signed = client.post("/login", data={"login": login, "password": PASSWORD,
                                                 "csrf_token": _CSRF.search(form).group(1)})
            if signed.status_code != 302:
                raise SystemExit(f"sign-in of {login} answered {signed.status_code}")
            people[key] = (client, {"Authorization": f"Bearer {token}"})
        root.reports.caught_up()

        village_client, village_auth = people["village"]
        board_client, board_auth = people["supervisor"]
        pairs: list[tuple[str, Callable[[], Any], str, Callable[[], Any]]] = [
            ("GET /todo (待办)", lambda: village_client.get("/todo"),
             "GET /api/v1/reports/inbox", lambda: village_client.get(
                 "/api/v1/reports/inbox", headers=village_auth)),
            (f"GET /board?region={township} (联而不动)",
             lambda: board_client.get(f"/board?region={township}"),
             f"GET /api/v1/reports/inactive?region={township}&limit=200",
             lambda: board_client.get(f"/api/v1/reports/inactive?region={township}&limit=200",
                                      headers=board_auth)),
            ("GET /pairings/<id> (page)", lambda: village_client.get(f"/pairings/{pairing}"),
             "GET /api/v1/pairings/<id>", lambda: village_client.get(
                 f"/api/v1/pairings/{pairing}", headers=village_auth)),
            # The page also shows the pairing's history as a timeline: what a JSON client
            # reads to draw the same page is the pairing and its history.
            ("GET /pairings/<id> (page) ", lambda: village_client.get(f"/pairings/{pairing}"),
             "GET /api/v1/pairings/<id> + /api/v1/audit/pairings/<id>/history",
             lambda: (village_client.get(f"/api/v1/pairings/{pairing}", headers=village_auth),
                      village_client.get(f"/api/v1/audit/pairings/{pairing}/history",
                                         headers=village_auth))[-1]),
        ]
        load = os.getloadavg()
        rows = []
        for page_name, page, json_name, json_call in pairs:
            times: dict[str, list[float]] = {page_name: [], json_name: []}
            for name, call in ((page_name, page), (json_name, json_call)):
                answer = call()  # warm-up, and the answer is checked once
                if answer.status_code != 200:
                    raise SystemExit(f"{name} answered {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
            for _ in range(args.runs):
                for name, call in ((page_name, page), (json_name, json_call)):
                    started = time.perf_counter()
                    call()
                    times[name].append(1000 * (time.perf_counter() - started))
            rows.append((page_name, json_name, times[page_name], times[json_name]))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"store {source}; {args.runs} runs each, alternating; load average "
          + " ".join(f"{x:.2f}" for x in load) + " before, "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" after, on {os.cpu_count()} CPUs")
    print(f"{'request':<66} {'p50 ms':>8} {'p95 ms':>8} {'page/JSON p95':>14} {'p50':>6}")
    for page_name, json_name, page_ms, json_ms in rows:
        print(f"{page_name:<66} {statistics.median(page_ms):>8.1f} {p(page_ms, 0.95):>8.1f} "
              f"{p(page_ms, 0.95) / p(json_ms, 0.95):>14.2f} "
              f"{statistics.median(page_ms) / statistics.median(json_ms):>6.2f}")
        print(f"{'  against ' + json_name:<66} {statistics.median(json_ms):>8.1f} {p(json_ms, 0.95):>8.1f}")


if __name__ == "__main__":
    main()
