"""Durable timers and the inactivity rules in isolation."""
from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import uuid4

import pytest
from click.testing import CliRunner

from api.cli.workflows import worker as worker_command
from domain.base import SYSTEM, Attribution
from domain.errors import InvalidValue, WrongState
from domain.ruleset import DEFAULT_RULES
from domain.timer import Timer
from workflows.policies import PairingFacts, WorkflowPolicies, inactivity_hits, next_inactivity_check
from workflows.scheduler import Worker, WorkerState, open_worker_state

SIGNED = date(2025, 3, 1)


def facts(**kw) -> PairingFacts:
    return PairingFacts(pairing_id=uuid4(), giver_id=uuid4(), in_force=True, in_force_since=SIGNED, **kw)


def test_r1_hits_on_day_60_unless_anything_happened():
    assert inactivity_hits(facts(), DEFAULT_RULES, date(2025, 4, 29)) == {}
    hit = inactivity_hits(facts(), DEFAULT_RULES, date(2025, 4, 30))["R1"]
    assert hit.measured["days_since_in_force"] == 60
    assert "R1" not in inactivity_hits(facts(first_public_commitment_on=date(2025, 3, 5)),
                                       DEFAULT_RULES, date(2025, 5, 30))


def test_r2_counts_only_confirmed_outcomes_and_turns_red():
    f = facts(last_cosigned_activity_on=date(2025, 3, 10), last_confirmed_delivery_on=date(2025, 4, 1))
    assert "R2" not in inactivity_hits(f, DEFAULT_RULES, date(2025, 6, 29))
    assert inactivity_hits(f, DEFAULT_RULES, date(2025, 6, 30))["R2"].severity == "warning"
    assert inactivity_hits(f, DEFAULT_RULES, date(2025, 9, 28))["R2"].severity == "red"
    assert next_inactivity_check(f, DEFAULT_RULES, date(2025, 6, 30)) == date(2025, 9, 28)


def test_r5_is_more_than_30_days_overdue_and_names_the_maker():
    maker, c = uuid4(), uuid4()
    f = facts(last_cosigned_activity_on=date(2025, 7, 1),
              overdue_commitments=((c, date(2025, 6, 1), maker),))
    assert "R5" not in inactivity_hits(f, DEFAULT_RULES, date(2025, 7, 1))
    hit = inactivity_hits(f, DEFAULT_RULES, date(2025, 7, 2))["R5"]
    assert hit.responsible_id == maker and hit.measured["max_days_overdue"] == 31
    assert next_inactivity_check(f, DEFAULT_RULES, date(2025, 6, 20)) == date(2025, 7, 2)


def test_nothing_hits_a_pairing_not_in_force():
    f = PairingFacts(pairing_id=uuid4(), giver_id=uuid4(), in_force=False, in_force_since=SIGNED)
    assert inactivity_hits(f, DEFAULT_RULES, date(2026, 1, 1)) == {}
    assert next_inactivity_check(f, DEFAULT_RULES, date(2026, 1, 1)) is None


def test_a_timer_fires_once_per_arming():
    subject = uuid4()
    by = Attribution(SYSTEM, datetime(2025, 3, 1, tzinfo=timezone.utc))
    timer = Timer.schedule(by, "task", subject, "confirmation", datetime(2025, 3, 16, tzinfo=timezone.utc))
    assert timer.id == Timer.create_id(subject, "confirmation")
    with pytest.raises(InvalidValue):
        timer.fire(by, "too early")
    later = Attribution(SYSTEM, datetime(2025, 3, 16, 1, tzinfo=timezone.utc))
    timer.fire(later, "confirmation overdue")
    with pytest.raises(WrongState):
        timer.fire(later, "again")
    assert timer.wants(datetime(2025, 3, 16, tzinfo=timezone.utc), {})


def test_arming_twice_writes_nothing_the_second_time(engine, cast, settings):
    policies = WorkflowPolicies(engine, WorkerState(settings))
    pairing_id = cast.pairing_in_force()
    for _ in range(2):
        step = policies.step()
        policies.arm(step, "pairing", pairing_id, "check", date(2025, 6, 1))
        written = step.commit()
    assert written == 0
    assert engine.load(Timer, Timer.create_id(pairing_id, "check")).version == 1


def test_restarted_worker_resumes_without_refiring(engine, cast, clock, settings):
    cast.pairing_in_force()
    first = Worker(engine, open_worker_state(settings))
    first.drain()
    clock.advance(days=61)
    assert first.drain().effects == {"R1 flagged": 1}
    first.state.close()
    again = Worker(engine, open_worker_state(settings))
    report = again.drain()
    assert (report.events, report.fired) == (0, 0)
    assert again.state.position() == engine.recorder.max_notification_id()
    # On PostgreSQL the state is in the database: a worker on another host resumes from it.
    assert (settings.home / "worker.sqlite").exists() is not settings.is_postgres
    again.state.close()


def test_cli_worker_once(engine, cast, settings, monkeypatch):
    cast.pairing_in_force()
    for name, value in settings.environ().items():  # the same store, SQLite or PostgreSQL
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(worker_command, ["--once"])
    assert result.exit_code == 0, result.output
    assert "fired 0 timers" in result.output
