"""The verifiable log on PostgreSQL: same leaves, same tree, same verification as SQLite.

Runs only when ``COBUILD_TEST_DATABASE_URL`` names a PostgreSQL server (each test gets a
fresh database from the ``settings`` fixture).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import replace

import pytest
from click.testing import CliRunner
from eventsourcing.persistence import IntegrityError, StoredEvent

from api.cli.audit import audit, export_bundle, make_checkpoint, run_verify
from workflows.audit import verifier
from workflows.audit.checkpoint import KeyDirectory, checkpoint_body, sign_note
from workflows.audit.heads import HeadIndex
from workflows.audit.verifier import CannotCheck
from workflows.audit.recorder import POSTGRES_EVENTS_TABLE, AuditStorageError
from workflows.audit.verify import verify_store
from tests.support import Cast
from workflows.engine import Engine, open_engine
from workflows.store.schema import migrate

if os.environ.get("COBUILD_TEST_DATABASE_URL"):
    import psycopg  # the `postgres` extra: absent where the suite runs on SQLite only

pytestmark = pytest.mark.skipif(not os.environ.get("COBUILD_TEST_DATABASE_URL"),
                                reason="needs COBUILD_TEST_DATABASE_URL (PostgreSQL)")

TOPIC = "tests.test_audit_postgres:Raw"


def _rows(settings, query, params=()):
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(query, params).fetchall()


def _event(oid: uuid.UUID, version: int, text: str = "x") -> StoredEvent:
    return StoredEvent(oid, version, TOPIC, json.dumps({"text": text}).encode())


def _leaf_nids(settings) -> list[int]:
    return [r[0] for r in _rows(settings, "SELECT notification_id FROM audit_leaf ORDER BY leaf_index")]


def _event_nids(settings) -> list[int]:
    return [r[0] for r in _rows(settings, "SELECT notification_id FROM engine_events ORDER BY notification_id")]


def test_every_engine_event_has_a_leaf_and_the_store_verifies(engine, cast, settings):
    assert engine.recorder.events_table_name == POSTGRES_EVENTS_TABLE  # what the CLI and verifier read
    cast.pairing_in_force()
    log = engine.recorder.audit
    assert log.tree_size() == len(_event_nids(settings)) > 0
    assert _leaf_nids(settings) == _event_nids(settings)
    result = verify_store(settings.database_url)
    assert result.ok, result.problems
    assert (result.leaves, result.events) == (log.tree_size(), log.tree_size())
    assert result.nodes == len(_rows(settings, "SELECT id FROM audit_node"))


def test_a_conflicting_save_leaves_no_orphan_leaf_and_a_gap_keeps_leaves_dense(engine, cast, settings):
    recorder = engine.recorder
    size = recorder.audit.tree_size()
    last = max(_event_nids(settings))
    taken = _rows(settings, "SELECT originator_id, originator_version FROM engine_events LIMIT 1")[0]
    with pytest.raises(IntegrityError):
        recorder.insert_events([_event(uuid.uuid4(), 1), _event(taken[0], taken[1])])
    assert recorder.audit.tree_size() == size  # the whole transaction rolled back, leaves too

    oid = uuid.uuid4()
    ids = recorder.insert_events([_event(oid, 1), _event(oid, 2)])
    assert ids[0] > last + 1  # the rolled-back insert used up sequence values
    leaves = recorder.audit.leaves_for(oid)
    assert [(r.leaf_index, r.notification_id) for r in leaves] == [(size, ids[0]), (size + 1, ids[1])]
    result = verify_store(settings.database_url)
    assert result.ok, result.problems


def test_concurrent_writers_with_conflicts_keep_one_leaf_per_event_in_notification_order(engine, settings):
    shared = uuid.uuid4()
    start = threading.Barrier(4)
    conflicts = []
    failures = []  # anything but a conflict: a writer that loses a race must keep writing

    def writer(n: int) -> None:
        e = Engine(env=replace(settings, create_tables=False).eventsourcing_env())
        try:
            start.wait()
            for version in range(1, 16):
                try:  # every writer races for each version of the shared aggregate
                    e.recorder.insert_events([_event(shared, version, f"w{n}"), _event(uuid.uuid4(), 1)])
                except IntegrityError:
                    conflicts.append(n)
        except Exception as error:  # asserted below, in the test's thread
            failures.append(error)
        finally:
            e.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert conflicts  # the race really happened
    events = _event_nids(settings)
    assert _leaf_nids(settings) == events
    assert events[-1] > len(events)  # rolled-back inserts left gaps
    assert _rows(settings, "SELECT count(*) FROM engine_events WHERE originator_id = %s", (shared,))[0][0] == 15
    result = verify_store(settings.database_url)
    assert result.ok, result.problems


def test_an_updated_state_is_detected_and_named_by_log_position(engine, cast, settings):
    pairing = cast.pairing_in_force()
    oid = uuid.uuid4()
    with pytest.raises(IntegrityError):  # burn sequence values so positions differ from ids
        engine.recorder.insert_events([_event(oid, 1), _event(pairing, 1)])
    engine.suspend_pairing(cast.supervisor, pairing, "整改")  # the engine keeps writing after the rollback
    leaf = engine.recorder.audit.leaves_for(pairing)[1]
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("UPDATE engine_events SET state = convert_to('{}', 'UTF8') WHERE notification_id = %s",
                     (leaf.notification_id,))
    result = verify_store(settings.database_url)
    assert not result.ok
    first = result.first
    assert (first.position, first.notification_id) == (leaf.leaf_index, leaf.notification_id)
    assert (first.originator_id, first.originator_version) == (str(pairing), 2)
    assert "state bytes ALTERED" in first.message
    assert "TAMPERED: leaf" in result.summary()


def test_a_deleted_leaf_or_a_row_inserted_around_the_recorder_is_detected(engine, cast, settings):
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO engine_events (originator_id, originator_version, topic, state) "
                     "VALUES (%s, 1, %s, %s)", (uuid.uuid4(), TOPIC, b"{}"))
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM audit_leaf")
    result = verify_store(settings.database_url)
    assert [p.message for p in result.problems][-1].endswith(
        "event row has NO leaf (inserted outside the audited path)")


def test_checkpoint_bundle_and_offline_verification(engine, cast, settings, tmp_path):
    pairing = cast.pairing_in_force()
    keys = tmp_path / "keys"
    note = make_checkpoint(settings.database_url, keys)
    size = engine.recorder.audit.tree_size()
    assert note.splitlines()[1] == str(size)
    engine.suspend_pairing(cast.supervisor, pairing, "整改")
    bundle = export_bundle(settings.database_url, keys, str(pairing))
    last = engine.recorder.audit.leaves_for(pairing)[-1]
    assert [e["originator_version"] for e in bundle["events"]][-1] == last.leaf.originator_version
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    vkey = str(keys / "log.vkey")
    assert verifier.run(["bundle", str(tmp_path / "b.json"), "--vkey", vkey, "--require-complete"]) == 0
    trimmed = {**bundle, "events": bundle["events"][:-1]}
    (tmp_path / "trimmed.json").write_text(json.dumps(trimmed))
    assert verifier.run(["bundle", str(tmp_path / "trimmed.json"), "--vkey", vkey]) == 1
    bundle["events"][0]["state"] = bundle["events"][1]["state"]
    (tmp_path / "b2.json").write_text(json.dumps(bundle))
    assert verifier.run(["bundle", str(tmp_path / "b2.json"), "--vkey", vkey]) == 1
    outcome = run_verify(settings.database_url, keys)
    assert outcome.code == 0 and outcome.lines[0].startswith("OK: "), outcome.lines
    assert len(_rows(settings, "SELECT tree_size FROM audit_checkpoint")) == 2


def test_an_evaluators_checkpoint_and_its_aggregate_index_are_checked(engine, cast, settings, tmp_path,
                                                                       tmp_path_factory):
    cast.pairing_in_force()
    keys = tmp_path / "keys"
    evaluator = tmp_path_factory.mktemp("evaluator")
    note = make_checkpoint(settings.database_url, keys)
    (evaluator / "kept.note").write_text(note)
    outcome = run_verify(settings.database_url, keys, require_checkpoint=True, checkpoint_dirs=[str(evaluator)])
    assert outcome.code == 0, outcome.lines
    assert "the aggregate index of 1 external checkpoint(s) re-derived" in outcome.lines[0]
    # The same head signed with an index that leaves one record out: caught on PostgreSQL too.
    kd = KeyDirectory(keys)
    vkey = kd.verifier_key()
    size, root = engine.recorder.audit.head(int(note.splitlines()[1]))
    false = sign_note(kd.private_key(), vkey.name, checkpoint_body(vkey.name, size, root, HeadIndex.build(size, [])))
    (evaluator / "kept.note").write_text(false)
    outcome = run_verify(settings.database_url, keys, require_checkpoint=True, checkpoint_dirs=[str(evaluator)])
    assert outcome.code == 1 and "its aggregate index (0 records) differs" in outcome.lines[0], outcome.lines
    with pytest.raises(CannotCheck, match="--require-checkpoint"):
        run_verify(settings.database_url, keys, require_checkpoint=True)


def test_cli_finds_the_postgres_store_from_the_environment(engine, cast, settings, tmp_path, monkeypatch):
    cast.pairing_in_force()
    monkeypatch.setenv("COBUILD_HOME", str(tmp_path))
    monkeypatch.setenv("COBUILD_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    r = runner.invoke(audit, ["checkpoint", "--out", str(tmp_path / "cp.note")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(audit, ["verify", "--checkpoint", str(tmp_path / "cp.note")])
    assert r.exit_code == 0 and r.output.startswith("OK: "), r.output
    r = runner.invoke(audit, ["bundle", str(cast.giver)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["events"][0]["originator_version"] == 1


def test_the_schema_step_gives_leaves_to_events_stored_before_the_log(settings, clock):
    plain = replace(settings, extra_env={
        "APPLICATION_RECORDER_TOPIC": "eventsourcing.postgres:PostgresApplicationRecorder"})
    e = Engine(env=plain.eventsourcing_env(), clock=clock)
    Cast.create(e)
    e.close()
    assert _rows(settings, "SELECT to_regclass('audit_leaf')")[0][0] is None
    migrate(settings)
    assert _leaf_nids(settings) == _event_nids(settings) != []
    assert verify_store(settings.database_url).ok
    engine = open_engine(settings, clock)  # the audited recorder carries on from the backfilled tree
    try:
        engine.recorder.insert_events([_event(uuid.uuid4(), 1)])
    finally:
        engine.close()
    assert _leaf_nids(settings) == _event_nids(settings)
    assert verify_store(settings.database_url).ok


def test_the_recorder_refuses_database_functions_that_bypass_it(settings):
    migrate(settings)
    env = replace(settings, create_tables=False, extra_env={"POSTGRES_ENABLE_DB_FUNCTIONS": "y"})
    with pytest.raises(AuditStorageError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        Engine(env=env.eventsourcing_env())


def _queued_saves(recorder, settings, saves):
    """Runs ``saves`` (name -> (events, kwargs)) from threads of one process while another
    connection holds the events table's lock, so the first waits on the lock and the rest
    queue behind it; then lets go.  Returns name -> notification ids, or the error raised."""
    outcomes: dict = {}

    def save(name, events, kwargs):
        try:
            outcomes[name] = recorder.insert_events(events, **kwargs)
        except IntegrityError as e:
            outcomes[name] = e

    with psycopg.connect(settings.database_url) as blocker:
        blocker.execute(f"LOCK TABLE {POSTGRES_EVENTS_TABLE} IN EXCLUSIVE MODE")
        threads = []
        for name, (events, kwargs) in saves.items():
            threads.append(threading.Thread(target=save, args=(name, events, kwargs)))
            threads[-1].start()
            if len(threads) == 1:  # the first goes first, and waits for the lock
                while not _rows(settings, "SELECT 1 FROM pg_locks WHERE NOT granted "
                                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"):
                    threading.Event().wait(0.01)
        while len(recorder._queue) < len(saves) - 1:
            threading.Event().wait(0.01)
        blocker.rollback()
    for t in threads:
        t.join()
    return outcomes


def _stored(settings, ids):
    return _rows(settings, "SELECT originator_id, originator_version, xmin::text FROM engine_events "
                 "WHERE notification_id = ANY(%s) ORDER BY notification_id", (list(ids),))


def test_saves_queued_behind_a_commit_share_one_transaction_each_with_its_own_ids_and_receipt(
        engine, settings):
    from workflows.store import idempotency

    def receipt(n):
        key = idempotency.CommandKey("user-1", f"key-{n}", "fp")
        return idempotency.Receipt(key, uuid.uuid4(), 1, "raised", {}, 1.0e9)

    saves = {n: ([_event(uuid.uuid4(), 1), _event(uuid.uuid4(), 1)] if n % 2 else [_event(uuid.uuid4(), 1)],
                 {"receipt": receipt(n)}) for n in range(6)}
    outcomes = _queued_saves(engine.recorder, settings, saves)

    transactions = set()
    for n, (events, _) in saves.items():
        ids = outcomes[n]
        stored = _stored(settings, ids)
        assert [(r[0], r[1]) for r in stored] == [(e.originator_id, e.originator_version) for e in events]
        if n:
            transactions |= {r[2] for r in stored}
        kept = _rows(settings, "SELECT outcome FROM command_receipts WHERE idempotency_key = %s", (f"key-{n}",))
        assert json.loads(kept[0][0])["position"] == ids[-1]  # the receipt names its own save's events
    assert len(transactions) == 1  # the five queued saves committed as one
    assert _leaf_nids(settings) == _event_nids(settings)
    assert verify_store(settings.database_url).ok


def test_a_conflict_among_queued_saves_fails_only_the_save_that_conflicts(engine, settings):
    shared = uuid.uuid4()
    saves = {"first": ([_event(uuid.uuid4(), 1)], {}),
             "a": ([_event(uuid.uuid4(), 1), _event(shared, 1, "a")], {}),
             "b": ([_event(shared, 1, "b")], {}),
             "c": ([_event(uuid.uuid4(), 1)], {})}
    outcomes = _queued_saves(engine.recorder, settings, saves)
    assert isinstance(outcomes["b"], IntegrityError)  # queued after "a", for the same version
    for name in ("first", "a", "c"):
        events = saves[name][0]
        assert [(r[0], r[1]) for r in _stored(settings, outcomes[name])] == \
               [(e.originator_id, e.originator_version) for e in events]
    assert _rows(settings, "SELECT state FROM engine_events WHERE originator_id = %s", (shared,)) == \
           [(json.dumps({"text": "a"}).encode(),)]
    assert _leaf_nids(settings) == _event_nids(settings)
    assert verify_store(settings.database_url).ok
