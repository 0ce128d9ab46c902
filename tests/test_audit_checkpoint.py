"""C2SP signed-note checkpoints and the signer that refuses to sign a rewritten history."""

from __future__ import annotations

import base64
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.audit_support import make_app, rebuild_audit_tables
from workflows.audit.recorder import AuditLog, connect_sqlite
from workflows.audit.checkpoint import (
    KeyDirectory,
    NoteError,
    Signer,
    SignerRefused,
    VerifierKey,
    checkpoint_body,
    open_checkpoint,
    sign_note,
    store_checkpoint_sqlite,
    verifier_key_string,
)

GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"


def test_go_sumdb_note_vector_byte_identical():
    # golang.org/x/mod/sumdb/note documentation example (Ed25519 is deterministic).
    skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(skey.split("+", 4)[-1])[1:])
    assert verifier_key_string("PeterNeumann", key.public_key().public_bytes_raw()) == (
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    assert sign_note(key, "PeterNeumann", GO_TEXT) == GO_TEXT + (
        "\n\u2014 PeterNeumann "
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


@pytest.fixture
def keys(tmp_path):
    kd = KeyDirectory(tmp_path / "keys")
    kd.generate("cobuild.test/log")
    return kd


def test_checkpoint_roundtrip_and_forgeries(keys):
    vkey = keys.verifier_key()
    root = bytes(range(32))
    note = sign_note(keys.private_key(), vkey.name, checkpoint_body(vkey.name, 7, root))
    cp = open_checkpoint(note, vkey)
    assert (cp.origin, cp.size, cp.root) == ("cobuild.test/log", 7, root)

    forger = Ed25519PrivateKey.generate()
    forged = sign_note(forger, vkey.name, checkpoint_body(vkey.name, 7, bytes(32)))
    with pytest.raises(NoteError, match="no signature from the pinned log key"):
        open_checkpoint(forged, vkey)

    # A signature by an unknown key beside the valid one is ignored (key rotation, witnesses).
    extra = sign_note(forger, "witness.example", checkpoint_body(vkey.name, 7, root)).split("\n\n")[1]
    assert open_checkpoint(note + extra, vkey).size == 7

    # The pinned key's line over an edited body is rejected outright.
    edited = note.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(NoteError, match="invalid signature"):
        open_checkpoint(edited, vkey)

    other_origin = sign_note(keys.private_key(), vkey.name, checkpoint_body("other.log", 7, root))
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(other_origin, vkey)


def test_generate_refuses_to_overwrite(keys):
    with pytest.raises(FileExistsError):
        keys.generate("again")
    assert VerifierKey.parse(keys.vkey_path.read_text()).name == "cobuild.test/log"


def _signer(db, keys):
    conn = connect_sqlite(db)
    return conn, Signer(keys, AuditLog.from_connection(conn), lambda s, r, n: store_checkpoint_sqlite(conn, s, r, n))


def test_signer_signs_stores_and_refuses_rewrite(tmp_path, keys):
    db = tmp_path / "events.sqlite"
    app = make_app(db)
    for i in range(10):
        app.open(f"s{i}", lines=2)
    conn, signer = _signer(db, keys)
    note1 = signer.sign()
    cp1 = open_checkpoint(note1, keys.verifier_key())
    assert cp1.size == 30 and keys.last_signed().size == 30
    assert [r[0] for r in conn.execute("SELECT tree_size FROM audit_checkpoint")] == [30]

    for i in range(5):
        app.open(f"t{i}")
    note2 = signer.sign()
    assert open_checkpoint(note2, keys.verifier_key()).size == 35

    # An insider edits an old event and recomputes leaves and nodes consistently.
    raw = sqlite3.connect(db)
    raw.execute("UPDATE stored_events SET state = CAST(REPLACE(CAST(state AS TEXT), 's3', 'S3') AS BLOB) "
                "WHERE rowid = (SELECT MIN(rowid) FROM stored_events WHERE CAST(state AS TEXT) LIKE '%s3%')")
    raw.commit()
    rebuild_audit_tables(raw)
    raw.close()
    app.open("after rewrite")
    with pytest.raises(SignerRefused, match=r"does not extend the last signed tree size 35"):
        signer.sign()
    assert keys.last_signed().size == 35
    conn.close()


def test_signer_refuses_truncated_tree(tmp_path, keys):
    db = tmp_path / "events.sqlite"
    app = make_app(db)
    for i in range(6):
        app.open(f"s{i}")
    conn, signer = _signer(db, keys)
    signer.sign()
    raw = sqlite3.connect(db)
    raw.execute("DELETE FROM stored_events WHERE rowid > 4")
    raw.commit()
    rebuild_audit_tables(raw)
    raw.close()
    with pytest.raises(SignerRefused, match="TRUNCATED"):
        signer.sign()
    conn.close()


def test_verifier_keys_roundtrip_even_with_plus_in_base64():
    for _ in range(30):
        pub = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        text = verifier_key_string("cobuild.test/log", pub)
        assert VerifierKey.parse(text).public_key == pub
