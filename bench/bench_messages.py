"""消息 latency on a generated store: a page of an organisation's messages and the unread
count of the tab bar, against the 待办 (inbox) report of the same organisation; a region's
desk (the province and its busiest county).

    PYTHONPATH=. python bench/bench_messages.py --home DIR [--runs 40]

``DIR`` is a data folder written by ``cobuild generate``; its projections are caught up
first (``bench_reports.ready_runner``).  The organisations are the heaviest of each kind: the
giving organisation with most pairings and the village with most needs.  Each figure is p50
and p95 in ms over ``--runs`` runs after one warm-up run.
"""
from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from bench_reports import ready_runner, timed
from projections import reports
from projections.messages import COUNT_CAP, PAGE, organisation_messages, region_messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    runner, note = ready_runner(args.home)
    print(note)
    db = runner.db
    with reports.open_facts(db) as facts:
        giver = facts.rows("SELECT giver_id, COUNT(*) n FROM {p}pairing GROUP BY giver_id"
                           " ORDER BY n DESC LIMIT 1")[0]
        village = facts.rows("SELECT receiver_id, COUNT(*) n FROM {p}task GROUP BY receiver_id"
                             " ORDER BY n DESC LIMIT 1")[0]
        # the county with most pairings (a generated year may hold no follow-up case)
        county = facts.rows("SELECT substr(receiver_region, 1, 6) c, COUNT(*) n FROM {p}pairing"
                            " GROUP BY c ORDER BY n DESC LIMIT 1")[0]
        pairings = facts.rows("SELECT COUNT(*) FROM {p}pairing")[0][0]
        cases = facts.rows("SELECT COUNT(*) FROM {p}followup")[0][0]
        last = facts.rows("SELECT MAX(day) FROM {p}pairing_event")[0][0]
        province = facts.rows("SELECT substr(region_code, 1, 2) FROM {p}org LIMIT 1")[0][0]
    today = date.fromisoformat(last)
    print(f"{pairings} pairings, {cases} follow-up cases; as of {today}")
    w = reports.Window(today)

    def show(what: str, fn) -> None:
        p50, p95 = timed(fn, args.runs)
        print(f"  {what:<58} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms")

    for kind, (org, n) in (("agency", giver), ("village", village)):
        print(f"{kind} with the most {'pairings' if kind == 'agency' else 'needs'} ({n}):")

        def page(org: str = org, limit: int = PAGE) -> None:
            with reports.open_facts(db) as facts:
                organisation_messages(facts, org, today, 7, None, limit + 1)

        show("消息: first page (20)", page)
        show("unread count of the tab bar (up to 100)", lambda org=org: page(org, COUNT_CAP - 1))
        show("待办: inbox report (baseline)", lambda org=org: reports.inbox_report(db, w, org))
    for what, region in (("province", province), (f"busiest county ({county[1]} pairings)", county[0])):
        def desk(region: str = region) -> None:
            with reports.open_facts(db) as facts:
                region_messages(facts, region, None, PAGE + 1)

        show(f"desk 消息 of the {what}: first page", desk)
        show(f"督办 follow-ups report of the {what} (baseline)",
             lambda region=region: reports.followups_report(db, w, region=region, limit=500))


if __name__ == "__main__":
    main()
