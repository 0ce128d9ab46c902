"""Idempotency-Key answers and receipts are kept for a day, then purged (docs/api.md).

Within ``RETENTION`` (24 h by the server's clock) a keyed retry gets the first answer; past
it the key is free, and the scheduler's worker deletes the expired receipts and answers
now and then (not per request), so they do not grow with every keyed command.  The server's
clock is moved with ``COBUILD_CLOCK_FILE``; on SQLite and, when ``COBUILD_TEST_DATABASE_URL``
is set, on PostgreSQL.
"""
from __future__ import annotations

import os
import secrets
import time
from datetime import datetime, timedelta
from typing import Callable

import pytest

from api.idempotency import IdempotencyStore
from tests.api_support import JsonClient, ServerProcess
from tests.support import Cast, fresh_settings
from tests.test_trust_server import village_with_user
from workflows.engine import open_engine
from workflows.scheduler import Worker, open_worker_state
from workflows.store import idempotency
from workflows.store.clock import LOCAL_TZ, FakeClock, FileClock
from workflows.store.idempotency import RETENTION, CommandKey

V = "/api/v1"
DATABASES = ["sqlite"] + (["postgres"] if os.environ.get("COBUILD_TEST_DATABASE_URL") else [])
START = datetime(2025, 3, 3, 9, 0, tzinfo=LOCAL_TZ)


@pytest.fixture(params=DATABASES)
def store_settings(request, tmp_path):
    url = os.environ["COBUILD_TEST_DATABASE_URL"] if request.param == "postgres" else ""
    with fresh_settings(tmp_path, url) as s:
        yield s


def receipts(engine) -> int:
    with engine.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {idempotency.TABLE}")
        row = cursor.fetchone()
    return list(row.values())[0] if isinstance(row, dict) else row[0]


def test_a_receipt_answers_within_the_retention_then_expires_and_the_worker_purges_it(store_settings):
    clock = FakeClock(START)
    engine = open_engine(store_settings, clock)
    state = open_worker_state(store_settings)
    answers = IdempotencyStore(store_settings, clock)
    try:
        cast = Cast.create(engine)
        key = CommandKey(cast.villager.user_id, "need-0001", "fingerprint-1")
        engine.expect_key(key)
        first = engine.raise_need(cast.villager, cast.village, "infrastructure", "村道路灯")
        engine.expect_key(None)
        worker = Worker(engine, state, chores=[answers.purge])
        assert worker.tidy()  # a first round tidies; the live receipt stays
        assert receipts(engine) == 1

        clock.advance(seconds=(RETENTION - timedelta(minutes=1)).total_seconds())
        assert engine.committed_under(key.principal, key.key).id == first.id
        assert not worker.tidy() or receipts(engine) == 1

        clock.advance(seconds=(timedelta(minutes=2)).total_seconds())
        assert engine.committed_under(key.principal, key.key) is None  # expired: a new request
        # Before the worker came by, a new command with the key replaces the expired receipt.
        engine.expect_key(CommandKey(key.principal, key.key, "fingerprint-2"))
        second = engine.raise_need(cast.villager, cast.village, "infrastructure", "村道路灯")
        engine.expect_key(None)
        assert second.id != first.id
        assert engine.committed_under(key.principal, key.key).id == second.id
        assert receipts(engine) == 1

        clock.advance(seconds=(RETENTION + timedelta(minutes=1)).total_seconds())
        assert worker.tidy() and receipts(engine) == 0
        assert not worker.tidy()  # not again until TIDY_EVERY passed
    finally:
        answers.close()
        state.close()
        engine.close()


def eventually(read: Callable[[], bool], what: str, tries: int = 600) -> None:
    """The embedded worker tidies in its own time (a round a second)."""
    for _ in range(tries):
        if read():
            return
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def test_a_served_retry_gets_the_first_answer_for_a_day_and_is_a_new_request_after(store_settings, tmp_path):
    clock_file = tmp_path / "clock"
    FileClock.write(clock_file, START)
    admin = "admin-" + secrets.token_urlsafe(24)
    server = ServerProcess(store_settings.home, admin, store_settings.database_url,
                           {"COBUILD_CLOCK_FILE": str(clock_file)})
    engine = open_engine(store_settings, FakeClock(START))
    answers = IdempotencyStore(store_settings, FakeClock(START))
    try:
        http = JsonClient(base_url=server.base_url)
        village, token = village_with_user(http, admin)
        body = {"receiver_id": village, "category": "infrastructure", "title": "村道路灯"}
        key = {"Idempotency-Key": "need-路灯-0001".encode().hex()}
        first = http.post(f"{V}/tasks", token, body, headers=key).expect(201)
        assert receipts(engine) == 1 and answers.count() == 1

        FileClock.write(clock_file, START + RETENTION - timedelta(hours=1))
        retry = http.post(f"{V}/tasks", token, body, headers=key)
        assert retry.expect(201) == first and retry.header("Idempotent-Replayed") == "true"

        FileClock.write(clock_file, START + RETENTION + timedelta(hours=1))
        eventually(lambda: receipts(engine) == 0 and answers.count() == 0,
                   "the worker purge the expired receipt and answer")
        again = http.post(f"{V}/tasks", token, body, headers=key)
        assert again.expect(201)["id"] != first["id"] and again.header("Idempotent-Replayed") is None
        assert receipts(engine) == 1  # the new request's own receipt
    finally:
        answers.close()
        engine.close()
        output = server.stop()
    assert "Traceback" not in output, output
