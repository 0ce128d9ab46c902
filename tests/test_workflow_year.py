"""A year driven by the fake clock: every timer and policy fires, and the resulting events,
cases and notifications are what the rules say (docs/domain.md,
docs/architecture.md)."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from kombu import Connection
from kombu.transport import memory

from domain.followup import FollowUpCase
from tests.workflow_support import START, events_of, play_year
from workflows.store.clock import local_date
from workflows.relay import Consumer, Inbox, Relay, RelayPosition, queues
from workflows.scheduler import Worker, open_worker_state


@pytest.fixture
def broker():
    yield "memory://"
    memory.Channel.queues.clear()
    memory.Transport.global_state.clear()


def day_of(event) -> int:
    return (local_date(event.occurred_at) - START).days


@pytest.fixture
def year(engine, clock, settings, broker, tmp_path):
    worker = Worker(engine, open_worker_state(settings))
    inbox = Inbox(settings, "gateway")
    consumer = Consumer(Connection(broker), inbox, queues("gateway"))
    with consumer.Consumer():
        pass  # declares and binds the gateway's queues before anything is published
    position = RelayPosition(settings)
    relay = Relay(engine, Connection(broker), position)
    fired = []

    def drain() -> None:
        report = worker.drain()
        fired.extend([(day_of_now(), effect) for effect, n in report.effects.items() for _ in range(n)])
        relay.run_until_idle()

    def day_of_now() -> int:
        return (local_date(clock.now()) - START).days

    played = play_year(engine, clock, drain)
    consumer.drain()
    yield played, fired, inbox
    position.close()
    inbox.close()


def test_every_timer_fires_on_its_day(year):
    _, fired, _ = year
    assert sorted(fired) == [
        (35, "pooled"),                  # need t1 unclaimed for the 30-day claim window
        (53, "reminded"),                # c1 due day 60, reminder 7 days before
        (60, "R1 flagged"),              # B: no activity 60 days after signing
        (60, "R1 flagged"),              # C likewise
        (73, "reminded"),                # t1 planned for day 80
        (90, "R2 flagged"), (90, "R2 flagged"),          # B, C: 90 days without activity
        (93, "confirmation overdue"),    # t1 delivered day 78, unconfirmed 15 days (R9)
        (93, "reminded"),                # c2 due day 100
        (101, "marked overdue"),         # c2 not fulfilled by day 100
        (120, "R1 red"), (120, "R1 red"),                # B, C: 120 days stuck at signing
        (131, "R5 flagged"),             # A: c2 overdue more than 30 days
        (180, "R2 red"), (180, "R2 red"),                # B, C: 180 days
        (201, "R2 flagged"),             # A: rules v1 (60 days) after the last confirmation on day 141
        (260, "R2 flagged"),             # B: 60 days after its activity on day 200
        (306, "term ended"),             # C: term ended 2025-12-31
        (310, "R2 flagged"),             # A: 60 days after its activity on day 250
    ]


def test_flags_and_cases_follow_the_rules(year, engine):
    played, _, _ = year
    name = {v: k for k, v in played.ids.items()}
    flagged = sorted([(day_of(e), name[e.originator_id], e.rule, e.severity)
               for e in events_of(engine, "InactivityFlagged")])
    assert flagged == [(60, "B", "R1", "warning"), (60, "C", "R1", "warning"),
                       (90, "B", "R2", "warning"), (90, "C", "R2", "warning"),
                       (131, "A", "R5", "warning"), (201, "A", "R2", "warning"),
                       (260, "B", "R2", "warning"), (310, "A", "R2", "warning")]
    cleared = sorted((day_of(e), name[e.originator_id], e.rule)
                     for e in events_of(engine, "InactivityCleared"))
    # c2 was claimed on day 140, but only its confirmation on day 141 ends the delay
    assert cleared == [(141, "A", "R5"), (200, "B", "R1"), (200, "B", "R2"), (250, "A", "R2"),
                       (306, "C", "R1"), (306, "C", "R2")]
    by_day = {(day_of(e), name[e.originator_id], e.rule): e for e in events_of(engine, "InactivityFlagged")}
    r5 = by_day[(131, "A", "R5")]
    assert r5.measured["max_days_overdue"] == 31 and r5.measured["commitment_id"] == str(played.ids["c2"])
    a_r2 = by_day[(201, "A", "R2")]
    assert a_r2.measured == {"last_active_on": "2025-07-20", "days_without_activity": 60,
                             "threshold_days": 60, "red_days": 180, "rule_set_version": 1,
                             "last_activity_on": "2025-03-06"}

    cases = {e.originator_id: engine.load(FollowUpCase, e.originator_id)
             for e in events_of(engine, "FollowUpOpened")}
    summary = sorted((name[c.subject_id], c.rule, c.state, c.resolution, c.severity)
                     for c in cases.values())
    assert summary == [
        ("A", "R2", "closed", "resolved", "warning"), ("A", "R2", "open", None, "warning"),
        ("A", "R5", "closed", "resolved", "warning"),
        ("B", "R1", "closed", "resolved", "red"), ("B", "R2", "closed", "resolved", "red"),
        ("B", "R2", "open", None, "warning"),
        ("C", "R1", "closed", "dismissed", "red"), ("C", "R2", "closed", "dismissed", "red"),
        ("t1", "R9", "closed", "resolved", "warning"),
    ]
    b_r2 = next(c for c in cases.values() if name[c.subject_id] == "B" and c.rule == "R2"
                and c.state == "closed")
    assert [r["text"] for r in b_r2.responses] == ["已安排走访计划"]
    assert b_r2.responsible_id == played.cast.giver2


def test_commitments_and_tasks_end_where_the_timers_put_them(year, engine):
    played, _, _ = year
    assert [(day_of(e), e.due_on.isoformat()) for e in events_of(engine, "CommitmentOverdue")] \
        == [(101, "2025-06-09")]
    assert [day_of(e) for e in events_of(engine, "NeedPooled")] == [35]
    assert [(day_of(e), e.window_days) for e in events_of(engine, "ConfirmationOverdue")] == [(93, 15)]
    assert [day_of(e) for e in events_of(engine, "TermEnded")] == [306]
    # a timer fires at most once per deadline
    fired = Counter((e.originator_id, e.due_at) for e in events_of(engine, "TimerFired"))
    assert set(fired.values()) == {1}


def test_reminders_and_notices_reach_the_gateway_once(year):
    played, _, inbox = year
    notices = [json.loads(body) for _, body in inbox.applied("cobuild.notifications")]
    kinds = Counter(n["kind"] for n in notices)
    assert kinds == {"reminder": 3, "followup_opened": 9, "followup_closed": 7,
                     "followup_escalated": 4}
    reminders = [(n["due_on"], n["organisation_id"]) for n in notices if n["kind"] == "reminder"]
    giver = str(played.cast.giver)
    assert reminders == [("2025-04-30", giver), ("2025-05-20", giver), ("2025-06-09", giver)]
    assert all("到期提醒" in n["text"] for n in notices if n["kind"] == "reminder")
    events = inbox.applied("cobuild.events")
    assert len({mid for mid, _ in events}) == len(events)
    positions = [json.loads(body)["position"] for _, body in events]
    assert positions == sorted(positions)
