"""One body of SQL for a side store, on SQLite and on PostgreSQL, with the same semantics."""
from __future__ import annotations

import threading

import pytest

from workflows.store import schema
from workflows.store.schema import migrate
from workflows.store.sqlstore import SqlStore

DDL = """
CREATE TABLE IF NOT EXISTS demo_position (name TEXT PRIMARY KEY, position BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS demo_item (id BIGINT PRIMARY KEY, title TEXT NOT NULL,
    weight DOUBLE PRECISION, digest BYTEA)
"""


@pytest.fixture
def store(settings):
    s = SqlStore(settings, "demo")
    s.script(DDL)
    yield s
    s.close()


def test_values_come_back_as_they_went_in(store):
    with store.write() as cur:
        cur.execute("INSERT INTO demo_item VALUES (?, ?, ?, ?)", (2**40, "石练村 50%", 0.1 + 0.2, b"\x00\xff"))
    with store.read() as cur:
        row = cur.execute("SELECT id, title, weight, digest FROM demo_item").fetchone()
        like = cur.execute("SELECT count(*) FROM demo_item WHERE title LIKE '%50%'").fetchone()
    assert row == (2**40, "石练村 50%", 0.1 + 0.2, b"\x00\xff")
    assert like == (1,)


def test_upserts_and_conflicts_read_the_same(store):
    upsert = ("INSERT INTO demo_position VALUES (?, ?) ON CONFLICT (name) "
              "DO UPDATE SET position = excluded.position")
    with store.write() as cur:
        cur.execute(upsert, ("relay", 5))
        cur.execute(upsert, ("relay", 9))
        ignored = cur.execute("INSERT INTO demo_position VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                              ("relay", 1)).rowcount
        cur.executemany("INSERT INTO demo_position VALUES (?, ?)", [("a", 1), ("b", 2)])
    assert ignored == 0
    with store.read() as cur:
        assert cur.execute("SELECT name, position FROM demo_position ORDER BY name").fetchall() == \
            [("a", 1), ("b", 2), ("relay", 9)]


def test_a_failed_write_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        with store.write() as cur:
            cur.execute("INSERT INTO demo_position VALUES (?, ?)", ("relay", 1))
            raise RuntimeError("crash between the write and the commit")
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM demo_position").fetchone() == (0,)


def test_writers_take_turns_so_read_modify_write_loses_nothing(store):
    # On PostgreSQL's default isolation, without the store's lock, concurrent
    # read-then-write increments lose updates; SQLite serialises writers itself.
    with store.write() as cur:
        cur.execute("INSERT INTO demo_position VALUES ('counter', 0)")

    def bump() -> None:
        for _ in range(25):
            with store.write() as cur:
                (n,) = cur.execute("SELECT position FROM demo_position WHERE name = 'counter'").fetchone()
                cur.execute("UPDATE demo_position SET position = ? WHERE name = 'counter'", (n + 1,))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.read() as cur:
        assert cur.execute("SELECT position FROM demo_position WHERE name = 'counter'").fetchone() == (100,)


def test_a_read_sees_one_snapshot(store):
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM demo_item").fetchone() == (0,)
        writer = threading.Thread(target=lambda: _insert(store, 1))
        writer.start()
        writer.join()
        assert cur.execute("SELECT count(*) FROM demo_item").fetchone() == (0,)
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM demo_item").fetchone() == (1,)


def _insert(store: SqlStore, i: int) -> None:
    with store.write() as cur:
        cur.execute("INSERT INTO demo_item (id, title) VALUES (?, ?)", (i, f"item {i}"))


def test_a_store_schema_is_a_migration_step(settings):
    step = schema.Step("demo-store", 1, "demo tables", lambda s: _apply(s))
    schema._steps.append(step)
    try:
        assert ("demo-store", 1) in [(s.component, s.version) for s in migrate(settings)]
        store = SqlStore(settings, "demo")
        try:
            _insert(store, 7)
            with store.read() as cur:
                assert cur.execute("SELECT title FROM demo_item").fetchall() == [("item 7",)]
        finally:
            store.close()
    finally:
        schema._steps.remove(step)


def _apply(settings) -> None:
    store = SqlStore(settings, "demo")
    try:
        store.script(DDL)
    finally:
        store.close()


def test_store_names_are_checked(settings):
    with pytest.raises(ValueError):
        SqlStore(settings, "../demo")


def test_an_event_store_connection_the_server_dropped_is_replaced_idle_or_just_used(engine, cast, settings,
                                                                                      monkeypatch):
    """The event store checks a pooled connection only after a second unused; one the
    server dropped sooner fails its statement and the read or insert is retried on another."""
    if not settings.is_postgres:
        pytest.skip("PostgreSQL's connection pool")
    import psycopg

    from workflows.store import sqlstore

    pairing = cast.pairing_in_force()
    for idle_check in (0.0, 3600.0):  # every connection checked when taken; none
        monkeypatch.setattr(sqlstore, "IDLE_CHECK", idle_check)
        assert engine.recorder.max_notification_id()  # the pool's connection, just used
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            dropped = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert dropped >= 1
        outcome = engine.suspend_pairing(cast.supervisor, pairing, "整改")
        assert outcome.position == engine.recorder.max_notification_id()
        engine.resume_pairing(cast.supervisor, pairing)
