"""The audited recorder writes leaves and nodes in the events' own transaction."""

from __future__ import annotations

import hashlib
import sqlite3
import threading

import pytest
from eventsourcing.persistence import IntegrityError

from tests.audit_support import make_app
from workflows.audit import merkle
from workflows.audit.recorder import AuditedSQLiteApplicationRecorder, AuditLog, connect_sqlite, decode_leaf


def _counts(db) -> tuple[int, int, int]:
    conn = sqlite3.connect(db)
    try:
        events = conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
        leaves = conn.execute("SELECT COUNT(*) FROM audit_leaf").fetchone()[0]
        nodes = conn.execute("SELECT COUNT(*) FROM audit_node").fetchone()[0]
    finally:
        conn.close()
    return events, leaves, nodes


def test_recorder_topic_plugs_in(tmp_path):
    app = make_app(tmp_path / "events.sqlite")
    assert isinstance(app.recorder, AuditedSQLiteApplicationRecorder)


def test_every_event_gets_a_leaf(tmp_path):
    # Fails if eventsourcing stops calling _insert_events (the hook is private API).
    db = tmp_path / "events.sqlite"
    app = make_app(db)
    ids = [app.open(f"L{i}", lines=i % 3) for i in range(20)]
    for i, lid in enumerate(ids):
        app.add(lid, f"extra {i}")
    events, leaves, nodes = _counts(db)
    assert events == 20 + sum(i % 3 for i in range(20)) + 20
    assert leaves == events
    assert nodes == merkle.perfect_node_count(events)
    assert app.recorder.audit.tree_size() == events


def test_root_equals_recomputation_and_leaves_rederive(tmp_path):
    db = tmp_path / "events.sqlite"
    app = make_app(db)
    for i in range(37):
        app.open(f"L{i}", lines=i % 4)
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT l.leaf_index, l.notification_id, l.leaf_input, e.originator_id, e.originator_version, e.topic, e.state "
        "FROM audit_leaf l JOIN stored_events e ON e.rowid = l.notification_id ORDER BY l.leaf_index").fetchall()
    conn.close()
    assert [r[0] for r in rows] == list(range(len(rows)))
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    for _, nid, leaf_input, oid, version, topic, state in rows:
        leaf = decode_leaf(leaf_input)
        assert (leaf.notification_id, leaf.originator_id.replace("-", ""), leaf.originator_version, leaf.topic) == (
            nid, oid, version, topic)
        assert leaf.state_sha256 == hashlib.sha256(state).digest()
    expected = merkle.root_from_leaf_hashes([merkle.leaf_hash(r[2]) for r in rows])
    assert app.recorder.audit.root() == expected
    with connect_sqlite(db) as conn2:
        assert AuditLog.from_connection(conn2).root() == expected


def test_conflicting_save_leaves_no_orphan_leaf(tmp_path):
    db = tmp_path / "events.sqlite"
    app = make_app(db)
    lid = app.open("conflict", lines=1)
    a = app.repository.get(lid)
    b = app.repository.get(lid)
    a.add_line("from a")
    b.add_line("from b")
    app.save(a)
    with pytest.raises(IntegrityError):
        app.save(b)
    events, leaves, _ = _counts(db)
    assert events == leaves == 3
    # The cached frontier must not include the rolled-back leaf.
    app.add(lid, "after the conflict")
    events, leaves, nodes = _counts(db)
    assert events == leaves == 4 and nodes == merkle.perfect_node_count(4)
    log = app.recorder.audit
    leaf_inputs = [log.leaf(i).leaf_input for i in range(4)]
    assert log.root() == merkle.root_from_leaf_hashes([merkle.leaf_hash(x) for x in leaf_inputs])


def test_concurrent_writers_keep_leaves_in_notification_order(tmp_path):
    db = tmp_path / "events.sqlite"
    apps = [make_app(db) for _ in range(3)]
    errors = []

    def work(app, k):
        try:
            for i in range(40):
                app.open(f"w{k}-{i}", lines=i % 2)
        except Exception as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(app, k)) for k, app in enumerate(apps)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    conn = sqlite3.connect(db)
    nids = [r[0] for r in conn.execute("SELECT notification_id FROM audit_leaf ORDER BY leaf_index")]
    inputs = [r[0] for r in conn.execute("SELECT leaf_input FROM audit_leaf ORDER BY leaf_index")]
    rowids = [r[0] for r in conn.execute("SELECT rowid FROM stored_events ORDER BY rowid")]
    conn.close()
    assert nids == rowids
    assert apps[0].recorder.audit.root() == merkle.root_from_leaf_hashes([merkle.leaf_hash(x) for x in inputs])


def test_proofs_from_recorder_verify(tmp_path):
    app = make_app(tmp_path / "events.sqlite")
    for i in range(13):
        app.open(f"p{i}", lines=1)
    log = app.recorder.audit
    size, root = log.head()
    for index in range(size):
        leaf = log.leaf(index)
        merkle.verify_inclusion(index, size, merkle.leaf_hash(leaf.leaf_input), log.inclusion_proof(index), root)
    for m in range(1, size + 1):
        merkle.verify_consistency(m, size, log.root(m), root, log.consistency_proof(m, size))
    first = decode_leaf(log.leaf(0).leaf_input).originator_id
    assert [r.leaf.originator_version for r in log.leaves_for(first)] == [1, 2]


def test_a_writer_whose_cached_tree_is_behind_appends_after_the_other_writers_leaves(tmp_path):
    """Each recorder writes at the tree size it cached from its last commit without reading
    it; when another writer appended meanwhile, the leaf's key collides and the append
    is done again at the real size: the tree stays dense, in notification order, whole."""
    db = tmp_path / "events.sqlite"
    a, b = make_app(db), make_app(db)
    for app, name in ((a, "a1"), (b, "b1"), (b, "b2"), (a, "a2"), (a, "a3"), (b, "b3"), (a, "a4")):
        app.open(name, lines=1)
    conn = sqlite3.connect(db)
    leaves = conn.execute(
        "SELECT leaf_index, notification_id, leaf_input FROM audit_leaf ORDER BY leaf_index").fetchall()
    rowids = [r[0] for r in conn.execute("SELECT rowid FROM stored_events ORDER BY rowid")]
    nodes = conn.execute("SELECT COUNT(*) FROM audit_node").fetchone()[0]
    conn.close()
    assert [r[0] for r in leaves] == list(range(len(rowids)))
    assert [r[1] for r in leaves] == rowids
    assert nodes == merkle.perfect_node_count(len(leaves))
    expected = merkle.root_from_leaf_hashes([merkle.leaf_hash(r[2]) for r in leaves])
    assert a.recorder.audit.root() == b.recorder.audit.root() == expected
