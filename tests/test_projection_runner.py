"""The runner: exactly once across SIGKILL, read-your-writes, blue/green rebuild.

Tests taking ``settings`` run on the deployment's fact store: PostgreSQL when
``COBUILD_TEST_DATABASE_URL`` is set, where they compare it with a SQLite one built from the
same log."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import date
from pathlib import Path

import pytest

from projections import facts, reports
from projections.runner import ProjectionRunner, prefix, tracking_name
from projections.store import (
    REBUILD_CACHE_KIB, SERVING_CACHE_KIB, ProjectionDatabase, active_version, table_columns,
    tracked_position,
)
from tests.projection_support import World
from tests.test_projection_properties import dump, random_steps
from workflows.store.settings import Settings
from workflows.engine import open_engine

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from projections.runner import ProjectionRunner
    from projections.store import ProjectionDatabase
    from workflows.store.settings import Settings
    from workflows.engine import open_engine

    home, url, batch, pause_after = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    settings = Settings(home=Path(home), database_url=url)
    runner = ProjectionRunner(open_engine(settings), ProjectionDatabase.for_settings(settings), batch)
    apply, applied = runner.projector.apply_fact, [0]

    def slow_apply(conn, table_prefix, fact):
        apply(conn, table_prefix, fact)
        applied[0] += 1
        if applied[0] == pause_after:
            print("MID", fact.position, flush=True)  # inside an open batch transaction
            time.sleep(600)

    runner.projector.apply_fact = slow_apply
    runner.catch_up()
    print("DONE", flush=True)
""")


def _history(settings: Settings, steps: int, seed: int = 7):
    engine = open_engine(settings)
    world = World(engine, givers=6, villages=10)
    for op, a, b, gap, backdate in random_steps(random.Random(seed), steps):
        world.advance(gap)
        world.step(op, a, b, backdate)
        if len(world.events) > 50:
            world.flush()
    world.flush()
    return engine, world


def _child(settings: Settings, batch: int, pause_after: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(settings.home), settings.database_url, str(batch),
         str(pause_after)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def _position(settings: Settings) -> int:
    db = ProjectionDatabase.for_settings(settings)
    try:
        with db.read() as conn:
            return tracked_position(conn, tracking_name(active_version(conn, "facts"))) or 0
    finally:
        db.close()


def test_sigkill_in_the_middle_of_a_batch_loses_nothing_and_counts_nothing_twice(settings, tmp_path):
    engine, _ = _history(settings, 1500)
    head = engine.recorder.max_notification_id()
    batch = 40
    positions = []
    for pause_after in (57, 75, 133):  # never a batch boundary: the kill lands mid-batch
        child = _child(settings, batch, pause_after)
        line = child.stdout.readline().split()
        assert line[0] == "MID", line
        child.send_signal(signal.SIGKILL)
        child.wait()
        positions.append(_position(settings))
        # What the open batch had applied is gone; the committed position is behind it.
        assert positions[-1] < int(line[1])
    assert positions == sorted(positions) and positions[-1] > 0
    finished = _child(settings, batch, 10**9)
    assert finished.stdout.readline().strip() == "DONE"
    finished.wait()

    uninterrupted = ProjectionRunner(engine, ProjectionDatabase(tmp_path / "whole.sqlite"), 500)
    uninterrupted.catch_up()
    killed = ProjectionDatabase.for_settings(settings)
    assert _position(settings) == head
    assert dump(killed) == dump(uninterrupted.db)
    w = reports.Window(date(2026, 6, 30))
    for report in (reports.pairings_report, reports.commitments_report, reports.tasks_report):
        assert report(killed, w, limit=10_000) == report(uninterrupted.db, w, limit=10_000)
    assert reports.coverage_report(killed, w) == reports.coverage_report(uninterrupted.db, w)
    killed.close()
    engine.close()


def test_an_event_applied_twice_is_refused_by_the_fact_store(settings):
    engine, _ = _history(settings, 40)
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    runner.catch_up()
    refused: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    if settings.is_postgres:
        import psycopg

        refused = (psycopg.errors.UniqueViolation,)
    before = dump(runner.db)
    for notification in engine.recorder.select_notifications(
            start=1, limit=10_000, topics=runner.projector.topics):
        event = engine.mapper.to_domain_event(notification)
        if type(event).__name__ in ("OrganisationRenamed", "ActivityCoSigned",
                                    "ActivityContested", "OrganisationDissolved"):
            continue  # updates of a row, guarded by the tracking position alone
        with pytest.raises(refused):
            with runner.db.write() as conn:
                runner.projector.apply(conn, prefix(1), event, notification.id)
    assert dump(runner.db) == before
    engine.close()


def test_wait_gives_read_your_writes_with_a_background_runner(engine, cast, settings):
    from projections.runner import open_runner

    runner = open_runner(engine, settings)
    runner.start(interval=0.01)
    try:
        outcome = engine.propose_pairing(cast.agency, cast.giver, cast.village,
                                         date(2025, 1, 1), date(2027, 12, 31))
        runner.wait(outcome.position, timeout=10)
        items = reports.pairings_report(runner.db, reports.Window(date(2025, 3, 1)))["items"]
        assert [i["pairing_id"] for i in items] == [str(outcome.id)]
        # A write the projection does not read (a user) still counts as reached.
        last = engine.register_user(cast.admin, "新用户", "evaluator", None, "331123")[0]
        runner.wait(last.position, timeout=10)
    finally:
        runner.stop()
    assert runner.position() == engine.recorder.max_notification_id()


def test_wait_without_a_background_runner_catches_up_itself(engine, cast, settings):
    from projections.runner import open_runner

    runner = open_runner(engine, settings)
    pairing_id = cast.pairing_in_force()
    outcome = engine.record_activity(cast.agency, pairing_id, "visit", "走访", engine.clock.now())
    runner.wait(outcome.position)
    assert runner.position() >= outcome.position


def test_rebuild_switches_versions_while_the_old_one_keeps_serving(settings):
    engine, world = _history(settings, 600)
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings), 50)
    runner.catch_up()
    before = dump(runner.db)
    w = reports.Window(date(2025, 6, 30))
    expected = reports.pairings_report(runner.db, w, limit=10_000)

    seen_during_rebuild = []
    original = runner.projector.apply_fact

    def apply_and_read(conn, table_prefix, fact):
        original(conn, table_prefix, fact)
        if fact.position % 97 == 0:
            # A reader on its own connection meanwhile still gets the complete old version.
            reader = ProjectionDatabase.for_settings(settings)
            got = {}
            thread = threading.Thread(target=lambda: got.update(
                r=reports.pairings_report(reader, w, limit=10_000)))
            thread.start()
            thread.join()
            reader.close()
            seen_during_rebuild.append(got["r"] == expected)

    runner.projector.apply_fact = apply_and_read
    assert runner.rebuild() == 2
    runner.projector.apply_fact = original
    assert seen_during_rebuild and all(seen_during_rebuild)
    assert runner.status().active_version == 2
    assert dump(runner.db) == before
    with runner.db.read() as conn:
        assert not table_columns(conn, "v1_pairing") and table_columns(conn, "v2_pairing")
    # After the switch the runner follows the log into the new version.
    world.advance(1)
    world.step("propose", 0, 0, 0)
    world.flush()
    runner.catch_up()
    assert runner.status().lag == 0
    engine.close()


def test_an_event_type_that_upcasts_is_read_through_the_mapper(settings, monkeypatch):
    from domain.pairing import Pairing

    engine, _ = _history(settings, 600)
    # As if PairingRenewed had moved to version 2: its stored (version 1) state must go
    # through the mapper's upcasting, which here moves every renewal to one date.
    monkeypatch.setattr(Pairing.PairingRenewed, "class_version", 2, raising=False)
    monkeypatch.setattr(Pairing.PairingRenewed, "upcast_v1_v2", staticmethod(
        lambda state: state.update(term_end=date(2099, 12, 31))), raising=False)
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    runner.catch_up()
    with runner.db.read() as conn:
        renewed = conn.execute("SELECT value FROM v1_pairing_event WHERE kind = 'renewed'").fetchall()
        accepted = conn.execute("SELECT COUNT(*) FROM v1_pairing_event WHERE kind = 'accepted'").fetchone()
    assert renewed and set(renewed) == {("2099-12-31",)}
    assert accepted[0] > 0
    engine.close()


def test_the_library_reader_and_the_sqlite_reader_project_the_same_facts(tmp_path):
    from projections.facts import LogReader

    engine, _ = _history(Settings(home=tmp_path), 600)
    direct = ProjectionRunner(engine, ProjectionDatabase(tmp_path / "direct.sqlite"), 70)
    direct.catch_up()
    generic = ProjectionRunner(engine, ProjectionDatabase(tmp_path / "generic.sqlite"), 70)
    generic.reader = LogReader(engine.recorder)
    generic.decode = generic.projector.decoder(engine.mapper, generic.reader)
    generic.catch_up()
    assert dump(direct.db) == dump(generic.db)
    engine.close()


@pytest.mark.parametrize("report", [reports.pairings_report, reports.inactive_report])
def test_pages_read_in_growing_chunks_add_up_to_the_whole_list(settings, report):
    from workflows.store.clock import local_date

    engine = open_engine(settings)
    world = World(engine, givers=9, villages=9)
    for i in range(9):
        world.step("propose", i, i, 0)
    for op in ["accept"] * 9 + ["sign"] * 18:
        assert world.step(op, 0, 0, 0)
    world.advance(200)  # in force, never active: every one is on the inactive list
    world.flush()
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    runner.catch_up()
    w = reports.Window(local_date(world.now))
    whole = report(runner.db, w, limit=10_000)["items"]
    for limit in (1, 2, 4):
        paged, cursor = [], None
        while True:
            page = report(runner.db, w, cursor=cursor, limit=limit)
            paged += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == whole
    assert len(whole) == 9
    engine.close()


# What a version built by older code lacks, made by taking it off a current one.
OLDER_CODE = {
    "before the horizon": ["DROP TABLE v1_horizon"],
    "before the steps index covered their values": [
        "DROP INDEX v1_task_event_cover",
        "CREATE INDEX v1_task_event_item ON v1_task_event (task_id, position)"],
    "before pairings kept their latest change": [
        "DROP INDEX v1_pairing_changed_day", "DROP INDEX v1_pairing_changed_at",
        "ALTER TABLE v1_pairing DROP COLUMN changed_day",
        "ALTER TABLE v1_pairing DROP COLUMN changed_at"],
    "before follow-up answers kept their text": [
        "ALTER TABLE v1_followup_event DROP COLUMN text"],
    "before user accounts": ["DROP TABLE v1_account"],
    "before evaluation rounds": ["DROP TABLE v1_evaluation_rating"],
    "before 代录 in reports": ["DROP TABLE v1_proxy_entry"],
    "before division names": ["DROP TABLE v1_region"],
    "before the pairing's own acts were in 代录": [
        "DROP INDEX v1_proxy_entry_item",
        "CREATE INDEX v1_proxy_entry_subject ON v1_proxy_entry (subject_id, position)"],
}


@pytest.mark.parametrize("older", OLDER_CODE)
def test_a_version_built_by_older_code_is_rebuilt_when_a_runner_opens_it(settings, older):
    engine, _ = _history(settings, 300)
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    runner.catch_up()
    before = dump(runner.db)
    with runner.db.write() as conn:
        for statement in OLDER_CODE[older]:
            conn.execute(statement)
        assert not facts.is_current(conn, "v1_")
    reopened = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    assert reopened.status().active_version == 2
    with reopened.db.read() as conn:
        assert facts.is_current(conn, "v2_")
    assert dump(reopened.db) == before
    engine.close()


def test_division_names_fill_the_region_table_of_a_version_built_before_them(settings):
    from domain.base import SYSTEM

    engine, _ = _history(settings, 40)
    engine.name_region(SYSTEM, "331123", "遂昌县")
    engine.name_region(SYSTEM, "331123101000", "大柘镇")
    engine.name_region(SYSTEM, "331123102", "青石乡")
    engine.name_region(SYSTEM, "331123102", "青石镇")  # renamed
    engine.name_region(SYSTEM, "331123102", "青石镇")  # the same again: nothing recorded
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    runner.catch_up()
    with runner.db.write() as conn:
        conn.execute("DROP TABLE v1_region")
    reopened = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    assert reopened.status().active_version == 2
    assert reports.child_regions(reopened.db, "3311", "township") == [
        {"code": "331123101", "name": "大柘镇", "level": "township", "level_label": "乡镇（街道）"},
        {"code": "331123102", "name": "青石镇", "level": "township", "level_label": "乡镇（街道）"}]
    assert reports.region_names(reopened.db, ["331123", "331123103", "33"]) == {"331123": "遂昌县"}
    assert reports.region_name_of(reopened.db, "331123102201") == "青石镇"
    assert reports.region_name_of(reopened.db, "331123000000") == "遂昌县"
    engine.close()


def test_migrate_creates_the_bookkeeping_and_the_first_runner_builds_from_the_log(settings):
    from projections.runner import open_runner
    from workflows.store import schema

    assert "projections" in [s.component for s in schema.migrate(settings)]
    db = ProjectionDatabase.for_settings(settings)
    try:
        with db.read() as conn:
            assert table_columns(conn, "projection_meta") == {"name", "active_version"}
            assert table_columns(conn, "projection_tracking") == {"name", "position"}
            assert active_version(conn, "facts") is None
    finally:
        db.close()
    engine, _ = _history(settings, 200)
    runner = open_runner(engine, settings)
    runner.catch_up()
    status = runner.status()
    assert (status.active_version, status.position) == (1, engine.recorder.max_notification_id())
    runner.db.close()
    engine.close()


def test_a_rebuild_works_with_the_small_page_cache_and_leaves_the_serving_one(tmp_path):
    """SQLite only: a PostgreSQL fact store has no page cache in this process."""
    engine, _ = _history(Settings(home=tmp_path), 150)
    runner = ProjectionRunner(engine, ProjectionDatabase(tmp_path / "p.sqlite"), 50)
    cache_sizes = set()
    original = runner.projector.apply_fact

    def apply_and_look(conn, table_prefix, fact):
        original(conn, table_prefix, fact)
        cache_sizes.add(conn.execute("PRAGMA cache_size").fetchone()[0])

    runner.projector.apply_fact = apply_and_look
    runner.rebuild()
    assert cache_sizes == {-REBUILD_CACHE_KIB}

    def fail(conn, table_prefix, fact):
        raise RuntimeError("stop")

    runner.projector.apply_fact = fail
    with pytest.raises(RuntimeError):
        runner.rebuild()
    assert runner.db.connection().execute("PRAGMA cache_size").fetchone()[0] == -SERVING_CACHE_KIB
    engine.close()


def test_the_deployments_log_reader_reads_what_the_librarys_reads(settings):
    """The runner reads the log straight from the event table of its database (PostgreSQL
    included); the rows and the notifications the mapper gets are the library's."""
    from projections.facts import LogReader, PostgresLogReader, SQLiteLogReader

    engine, _ = _history(settings, 300)
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings))
    assert isinstance(runner.reader, PostgresLogReader if settings.is_postgres else SQLiteLogReader)
    generic = LogReader(engine.recorder)
    head = runner.head()
    for after, stop, limit in ((0, head, head), (7, head - 5, 40), (head, head, 10)):
        direct = runner.reader.read(after, stop, limit, runner.topics)
        library = generic.read(after, stop, limit, runner.topics)
        assert [r[:4] for r in direct] == [r[:4] for r in library]
        assert [runner.reader.notification(r) for r in direct] == [generic.notification(r) for r in library]
    runner.db.close()
    engine.close()


def test_a_rebuild_in_bulk_writes_the_facts_applied_event_by_event(settings, monkeypatch):
    """Whatever way a rebuild writes its rows (PostgreSQL: COPY from a few rows on, or
    multi-row inserts), the version it builds holds what catching up event by event wrote."""
    engine, _ = _history(settings, 600)
    runner = ProjectionRunner(engine, ProjectionDatabase.for_settings(settings), 40)
    runner.catch_up()
    before = dump(runner.db)
    for copy_rows in (2, 10**9):  # every table's rows copied; none
        monkeypatch.setattr(facts, "COPY_ROWS", copy_rows)
        runner.rebuild()
        assert dump(runner.db) == before
    runner.db.close()
    engine.close()
