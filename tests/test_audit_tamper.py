"""Tamper tests on a real SQLite event store: every change is found and named by position."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from tests.audit_support import drop_audit_triggers, make_app, rebuild_audit_tables
from workflows.audit.recorder import AuditLog, connect_sqlite
from workflows.audit import verify as audit_verify
from workflows.audit.verify import verify_store
from workflows.audit.checkpoint import KeyDirectory, Signer, open_checkpoint, sign_note, checkpoint_body
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LEDGERS = 30  # 3 events each: Opened, LineAdded x2 -> 90 events


@pytest.fixture(autouse=True, params=["one batch", "batches of 7", "two processes"])
def scan_batch(request, monkeypatch):
    """Run every tamper case three ways: the whole store in one scan batch; batches of 7
    rows, so clean batches take the bulk path around the tampered one and the fallbacks
    (re-check one batch row by row; merge the rest row by row) are exercised; and split
    over two processes, which must give way to the single-process scan on any problem."""
    if request.param == "batches of 7":
        monkeypatch.setattr(audit_verify, "_BATCH", 7)
    elif request.param == "two processes":
        monkeypatch.setattr(audit_verify, "_BATCH", 7)
        monkeypatch.setattr(audit_verify, "_SPLIT_MIN_LEAVES", 0)
    return request.param


@pytest.fixture
def store(tmp_path):
    """An audited store with the auditor's externally kept checkpoints at sizes 45 and 90."""
    db = tmp_path / "events.sqlite"
    keys = KeyDirectory(tmp_path / "keys")
    keys.generate("cobuild.test/log")
    app = make_app(db)
    ids = []
    notes = []
    for i in range(LEDGERS):
        ids.append(app.open(f"ledger-{i:02d}", lines=2))
        if len(ids) * 3 in (45, 90):
            conn = connect_sqlite(db)
            notes.append(Signer(keys, AuditLog.from_connection(conn)).sign())
            conn.close()
    app.close()
    vkey = keys.verifier_key()
    external = [(f"external checkpoint {i}", open_checkpoint(n, vkey)) for i, n in enumerate(notes)]
    return db, ids, vkey, external


def _verify(db, vkey, external=()):
    return verify_store(db, external_checkpoints=external, vkey=vkey)


def _leaf_of(db, rowid):
    conn = sqlite3.connect(db)
    (index,) = conn.execute("SELECT leaf_index FROM audit_leaf WHERE notification_id=?", (rowid,)).fetchone()
    conn.close()
    return index


def test_clean_store_verifies(store):
    db, _, vkey, external = store
    result = _verify(db, vkey, external)
    assert result.ok, result.summary()
    assert (result.leaves, result.events, result.checkpoints_checked) == (90, 90, 2)
    assert result.summary().startswith("OK: 90 leaves")


def test_two_process_scan_builds_the_same_tree(store, scan_batch, monkeypatch):
    db, _, vkey, external = store
    outcomes = []
    split_scan = audit_verify._split_scan
    monkeypatch.setattr(audit_verify, "_split_scan", lambda *a: outcomes.append(split_scan(*a)) or outcomes[-1])
    monkeypatch.setattr(audit_verify, "_SPLIT_MIN_LEAVES", 0)
    result = _verify(db, vkey, external)
    assert result.ok, result.summary()
    assert (result.leaves, result.events, result.nodes, result.checkpoints_checked) == (90, 90, 2 * 90 - 4, 2)
    levels, events = outcomes[0]
    assert events == 90
    conn = sqlite3.connect(db)
    conn.execute("BEGIN")
    single, _ = audit_verify._scan_all(lambda q: conn.cursor().execute(q), audit_verify.SQLITE_SQL,
                                       audit_verify._Problems(10))
    conn.close()
    assert [bytes(x) for x in levels if x] == [bytes(x) for x in single if x]


def test_bit_flipped_in_file(store):
    db, ids, vkey, external = store
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rowid = conn.execute("SELECT rowid FROM stored_events"
                         " WHERE CAST(state AS TEXT) LIKE '%ledger-17 line 1%'").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    needle = b"ledger-17 line 1"
    at = data.find(needle)
    assert at > 0 and data.find(needle, at + 1) < 0
    data[at + 7] ^= 0x01  # "ledger-17" -> "ledger-07"-like, same length
    db.write_bytes(bytes(data))
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    result = _verify(db, vkey, external)
    assert not result.ok
    first = result.first
    assert first.position == _leaf_of(db, rowid)
    assert first.notification_id == rowid
    assert first.originator_id == str(ids[17]) and first.originator_version == 3
    assert "state bytes ALTERED" in str(first)
    assert result.exit_code == 1


def test_row_deleted(store):
    db, ids, vkey, external = store
    conn = sqlite3.connect(db)
    rowid = conn.execute("SELECT rowid FROM stored_events WHERE originator_id=? AND originator_version=2",
                         (ids[9].hex,)).fetchone()[0]
    conn.execute("DELETE FROM stored_events WHERE rowid=?", (rowid,))
    conn.commit()
    conn.close()
    first = _verify(db, vkey, external).first
    assert (first.position, first.notification_id, first.originator_id, first.originator_version) == (
        _leaf_of(db, rowid), rowid, str(ids[9]), 2)
    assert "MISSING" in first.message


def test_two_rows_swapped(store):
    db, _, vkey, external = store
    conn = sqlite3.connect(db)
    conn.execute("UPDATE stored_events SET rowid=-1 WHERE rowid=60")
    conn.execute("UPDATE stored_events SET rowid=60 WHERE rowid=61")
    conn.execute("UPDATE stored_events SET rowid=61 WHERE rowid=-1")
    conn.commit()
    conn.close()
    result = _verify(db, vkey, external)
    assert [p.position for p in result.problems] == [59, 60]
    assert "moved/reordered" in result.first.message and result.first.notification_id == 60


def test_tail_truncated_with_leaves(store):
    db, _, vkey, external = store
    conn = sqlite3.connect(db)
    drop_audit_triggers(conn)
    conn.execute("DELETE FROM stored_events WHERE rowid > 87")
    conn.execute("DELETE FROM audit_leaf WHERE leaf_index >= 87")
    conn.commit()
    conn.close()
    result = _verify(db, vkey)
    # Nodes left behind betray it even without an external checkpoint ...
    assert not result.ok and "not derivable" in str(result.first)
    # ... and an external checkpoint names the truncation.
    result = _verify(db, vkey, external)
    assert any("TRUNCATED after leaf 86" in str(p) for p in result.problems)


def test_tail_truncated_cleanly_needs_external_checkpoint(store):
    db, _, vkey, external = store
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM stored_events WHERE rowid > 87")
    conn.commit()
    rebuild_audit_tables(conn)
    conn.close()
    assert _verify(db, vkey).ok
    result = _verify(db, vkey, external)
    assert str(result.first) == ("leaf 87: external checkpoint 1: checkpoint size 90 > 87 leaves present: "
                                 "history TRUNCATED after leaf 86")


def test_row_inserted_behind_the_recorder(store):
    db, _, vkey, external = store
    conn = sqlite3.connect(db)
    stray = uuid.uuid4()
    conn.execute("INSERT INTO stored_events VALUES (?, 1, 'audit_support:Ledger.Opened', ?)",
                 (stray.hex, b'{"title":"forged"}'))
    conn.commit()
    conn.close()
    first = _verify(db, vkey, external).first
    assert first.notification_id == 91 and first.originator_id == str(stray) and first.position == 90
    assert "NO leaf" in first.message


def test_row_inserted_in_a_gap(store):
    db, _, vkey, external = store
    conn = sqlite3.connect(db)
    conn.execute("UPDATE stored_events SET rowid = rowid + 1000 WHERE rowid > 40")
    conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                 "VALUES (41, ?, 1, 'x', x'00')", (uuid.uuid4().hex,))
    conn.commit()
    conn.close()
    result = _verify(db, vkey, external)
    assert result.first.position == 40 and result.first.notification_id == 41


def test_whole_store_consistently_rewritten(store):
    db, ids, vkey, external = store
    conn = sqlite3.connect(db)
    rowid = conn.execute("SELECT rowid FROM stored_events WHERE originator_id=? AND originator_version=3",
                         (ids[20].hex,)).fetchone()[0]
    conn.execute("UPDATE stored_events SET state = CAST(REPLACE(CAST(state AS TEXT), 'ledger-20', 'LEDGER-20') "
                 "AS BLOB) WHERE rowid=?", (rowid,))
    conn.commit()
    rebuild_audit_tables(conn, clear_checkpoints=True)
    conn.close()
    internal_only = _verify(db, vkey)
    assert internal_only.ok and "WARNING" in internal_only.summary()
    result = _verify(db, vkey, external)
    assert not result.ok
    assert str(result.first) == ("leaf 45: external checkpoint 1: recomputed root differs; last matching "
                                 "checkpoint has size 45 -> history rewritten within leaves [45,90)")
    assert 45 <= _leaf_of(db, rowid) < 90


def test_stored_node_and_leaf_index_tampering(store):
    db, _, vkey, _ = store
    conn = sqlite3.connect(db)
    drop_audit_triggers(conn)
    conn.execute("UPDATE audit_node SET hash = zeroblob(32) WHERE id = ?", ((5 << 2) + 1,))  # level 1, index 5
    conn.commit()
    conn.close()
    first = _verify(db, vkey).first
    assert first.position == 10 and "level 1, index 5" in first.message and "differs" in first.message

    conn = sqlite3.connect(db)
    conn.execute("UPDATE audit_leaf SET leaf_index = 95 WHERE leaf_index = 89")
    conn.commit()
    conn.close()
    assert any("not dense: expected 89, found 95" in str(p) for p in _verify(db, vkey).problems)


def test_forged_checkpoint_in_database(store):
    db, _, vkey, _ = store
    forged = sign_note(Ed25519PrivateKey.generate(), vkey.name, checkpoint_body(vkey.name, 90, bytes(32)))
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO audit_checkpoint VALUES (90, zeroblob(32), ?, 0)", (forged,))
    conn.commit()
    conn.close()
    first = _verify(db, vkey).first
    assert "stored checkpoint size 90: no signature from the pinned log key" in str(first)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13, 31, 64, 100, 1023, 1025])
def test_fast_node_layout_matches_node_table(n):
    from workflows.audit import merkle
    from workflows.audit.verify import _expected_nodes
    f = merkle.Frontier()
    levels = [bytearray()]
    nodes = {}
    for i in range(n):
        for level, index, h in f.append(merkle.leaf_hash(str(i).encode())):
            while len(levels) <= level:
                levels.append(bytearray())
            levels[level] += h
            nodes[merkle.node_key(level, index)] = h
    ids, blob = _expected_nodes(levels, n)
    assert ids == sorted(nodes)
    assert bytes(blob) == b"".join(nodes[k] for k in ids)
