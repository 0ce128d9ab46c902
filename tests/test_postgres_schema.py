"""The schema is created once, upgraded by `cobuild migrate`, and never raced.

Runs on SQLite by default and on PostgreSQL when COBUILD_TEST_DATABASE_URL is set.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import api.root  # noqa: F401  (every store's schema steps, as the entry points have them)
from api.cli.ops import migrate as migrate_command
from workflows.store import schema
from workflows.engine import Engine
from workflows.store.schema import SchemaOutdated, ensure_schema, migrate, pending, status

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def extra_step():
    """A second step of a made-up store, as a release that adds a table would register."""
    created = []

    def apply(settings):
        created.append(settings)

    added = schema.Step("test-store", 1, "a table a newer release adds", apply)
    schema._steps.append(added)
    yield created
    schema._steps.remove(added)


def test_migrate_creates_the_schema_once_and_then_finds_nothing_to_do(settings):
    known = [(s.component, s.version) for s in schema.steps()]
    assert known[0] == ("events", 1) and ("idempotency", 1) in known
    assert [(s.component, s.version) for s in pending(settings)] == known
    assert [(s.component, s.version) for s in migrate(settings)] == known
    assert migrate(settings) == []
    assert pending(settings) == []
    assert status(settings) == [(c, v, v) for c, v in known]


def test_a_fresh_database_gets_its_schema_on_first_start(settings):
    runtime = ensure_schema(settings)
    assert pending(settings) == []
    # On PostgreSQL the processes then start without creating tables.
    assert runtime.eventsourcing_env()["CREATE_TABLE"] == ("n" if settings.is_postgres else "y")
    engine = Engine(env=runtime.eventsourcing_env())
    try:
        engine.bootstrap_admin("t0ken-for-the-first-admin-0123456789")
        assert engine.recorder.max_notification_id() >= 1
    finally:
        engine.close()


def test_an_outdated_schema_is_refused_until_migrated(settings, extra_step):
    migrate(settings)  # applies both, as a first install of the newer release would
    assert len(extra_step) == 1
    schema._steps.append(schema.Step("test-store", 2, "a column the next release adds",
                                     extra_step.append))
    try:
        with pytest.raises(SchemaOutdated, match="test-store v2"):
            ensure_schema(settings)
        assert [(s.component, s.version) for s in migrate(settings)] == [("test-store", 2)]
        ensure_schema(settings)
        assert len(extra_step) == 2
    finally:
        schema._steps[:] = [s for s in schema._steps if s.version != 2 or s.component != "test-store"]


def test_steps_may_create_tables_even_when_migrate_runs_from_a_runtime_process(settings, extra_step):
    migrate(replace(settings, create_tables=False))
    assert [s.create_tables for s in extra_step] == [True]


def test_a_step_registered_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        schema.step("events", 1, "again")(lambda settings: None)


def test_migrate_command_check_reports_and_exits_1_when_behind(settings):
    env = settings.environ()
    runner = CliRunner()
    behind = runner.invoke(migrate_command, ["--check"], env=env)
    assert behind.exit_code == 1 and "events: database v0, code v1 (needs upgrading)" in behind.output
    first = runner.invoke(migrate_command, [], env=env)
    assert first.exit_code == 0 and "applied events v1" in first.output
    again = runner.invoke(migrate_command, [], env=env)
    assert again.exit_code == 0 and "nothing was changed" in again.output
    ok = runner.invoke(migrate_command, ["--check"], env=env)
    assert ok.exit_code == 0 and "(ok)" in ok.output


def test_concurrent_migrations_apply_each_step_once(settings):
    settings.ensure_home()
    env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen([sys.executable, "-c", "from api.cli.ops import migrate; migrate()"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(4)]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0] * 4, [err for _, err in outputs]
    applied = [out for out, _ in outputs if "applied events v1" in out]
    assert len(applied) == 1
    assert pending(settings) == []


STARTUP = ("import api.root; from workflows.store.settings import Settings; from workflows.engine import Engine; "
           "from workflows.store.schema import ensure_schema; "
           "Engine(env=ensure_schema(Settings.from_env()).eventsourcing_env()).close()")


def test_processes_starting_together_on_a_fresh_database_all_start(settings):
    # Without the schema lease and CREATE_TABLE=n, about one start in eight fails here on
    # PostgreSQL ("stored_event_uuid already exists", "tuple concurrently updated").
    settings.ensure_home()
    env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT)}
    starts = [subprocess.Popen([sys.executable, "-c", STARTUP], stderr=subprocess.PIPE, text=True, env=env)
              for _ in range(8)]
    errors = [p.communicate(timeout=120)[1] for p in starts]
    assert [p.returncode for p in starts] == [0] * 8, errors
    assert pending(settings) == []
