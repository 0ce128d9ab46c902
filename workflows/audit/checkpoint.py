"""Signed tree heads: C2SP checkpoints in the signed-note format, signed with Ed25519.

A checkpoint is the note body ``<origin>\\n<tree size>\\n<base64 root>\\n`` and the extension
line ``cobuild-audit-heads/v1 <count> <base64 root>\\n`` committing to the aggregate index
(``workflows.audit.heads``; older checkpoints lack it), followed by a
blank line and a signature line ``— <key name> base64(key id || signature)``, where the
key id is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]`` (c2sp.org/signed-note,
c2sp.org/tlog-checkpoint).  The key name is the log's origin.

Key directory (``<COBUILD_HOME>/keys/`` by default):

* ``log-signing.pem``: the Ed25519 private key, PKCS#8 PEM, mode 0600.
* ``log.vkey``: the verifier key ``<name>+<key id hex>+<base64(0x01 || public key)>``,
  the string evaluators pin; it carries the origin.
* ``signer-state.json``: the last (size, root, note) this signer signed.  It lives
  beside the key, outside the event database, because the signer must not take the
  database's word for what it signed before: before signing a new head it checks a
  consistency proof from that state and refuses if history was rewritten
  ("a log MUST not sign any checkpoint which is inconsistent with any checkpoint it
  previously signed").
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from workflows.audit import merkle
from workflows.audit.recorder import SQLITE_SQL, AuditLog, AuditSQL, postgres_sql
from workflows.audit.heads import HeadIndex
from workflows.audit.verifier import (
    HEADS_EXTENSION,
    Checkpoint,
    NoteError,
    VerifierKey,
    heads_line,
    note_key_id,
    open_checkpoint,
)

__all__ = [
    "Checkpoint",
    "KeyDirectory",
    "NoteError",
    "Signer",
    "SignerRefused",
    "VerifierKey",
    "checkpoint_body",
    "open_checkpoint",
    "sign_note",
    "store_checkpoint_postgres",
    "store_checkpoint_sqlite",
    "verifier_key_string",
]

DEFAULT_ORIGIN = "cobuild.local/audit-log"
PRIVATE_KEY_FILE = "log-signing.pem"
VERIFIER_KEY_FILE = "log.vkey"
STATE_FILE = "signer-state.json"


class SignerRefused(Exception):
    """The signer will not sign: the tree does not extend what it signed before."""


def verifier_key_string(name: str, public_key: bytes) -> str:
    encoded = base64.b64encode(b"\x01" + public_key).decode()
    return f"{name}+{note_key_id(name, public_key).hex()}+{encoded}"


def checkpoint_body(origin: str, size: int, root: bytes, heads: HeadIndex | None = None) -> str:
    """The note body; with ``heads``, the extension line committing to the aggregate index."""
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    if heads is not None:
        if heads.size != size:
            raise ValueError(f"aggregate index of tree size {heads.size} for a checkpoint of size {size}")
        body += heads_line(heads.count, heads.root()) + "\n"
    return body


def sign_note(private_key: Ed25519PrivateKey, name: str, body: str) -> str:
    if not body.endswith("\n") or "\n\n" in body:
        raise ValueError("note body must end with one newline and contain no blank line")
    if not name or any(ch.isspace() or ch == "+" for ch in name):
        raise ValueError("key name must be non-empty without spaces or '+'")
    public = private_key.public_key().public_bytes_raw()
    signature = private_key.sign(body.encode())
    blob = base64.b64encode(note_key_id(name, public) + signature).decode()
    return f"{body}\n\u2014 {name} {blob}\n"


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class SignedState:
    size: int
    root: bytes
    note: str

    def covers(self, size: int) -> bool:
        """Whether this note can stand for the tree of ``size``: the same size, and signed
        with the aggregate index (a note from before the index is signed again)."""
        return self.size == size and f"\n{HEADS_EXTENSION} " in self.note


class KeyDirectory:
    """The signer's private directory: key, verifier key and last-signed state."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def private_key_path(self) -> Path:
        return self.path / PRIVATE_KEY_FILE

    @property
    def vkey_path(self) -> Path:
        return self.path / VERIFIER_KEY_FILE

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    def exists(self) -> bool:
        return self.private_key_path.is_file() and self.vkey_path.is_file()

    def generate(self, origin: str = DEFAULT_ORIGIN) -> VerifierKey:
        """Create a new key pair; refuses to overwrite an existing key."""
        if self.private_key_path.exists():
            raise FileExistsError(f"a signing key already exists at {self.private_key_path}")
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        vkey = verifier_key_string(origin, key.public_key().public_bytes_raw())
        VerifierKey.parse(vkey)  # rejects an origin that cannot be a key name
        _atomic_write(self.private_key_path, pem, 0o600)
        _atomic_write(self.vkey_path, (vkey + "\n").encode())
        return VerifierKey.parse(vkey)

    def ensure(self, origin: str = DEFAULT_ORIGIN) -> VerifierKey:
        return self.verifier_key() if self.exists() else self.generate(origin)

    def private_key(self) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(self.private_key_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{self.private_key_path} is not an Ed25519 key")
        return key

    def verifier_key(self) -> VerifierKey:
        vkey = VerifierKey.parse(self.vkey_path.read_text(encoding="utf-8"))
        if self.private_key_path.exists():
            public = self.private_key().public_key().public_bytes_raw()
            if public != vkey.public_key:
                raise ValueError(f"{self.vkey_path} does not belong to {self.private_key_path}")
        return vkey

    def last_signed(self) -> SignedState | None:
        if not self.state_path.exists():
            return None
        data = json.loads(self.state_path.read_text(encoding="utf-8"))
        return SignedState(int(data["size"]), base64.b64decode(data["root"]), data["note"])

    def record_signed(self, size: int, root: bytes, note: str) -> None:
        data = {"size": size, "root": base64.b64encode(root).decode(), "note": note}
        _atomic_write(self.state_path, json.dumps(data, indent=1).encode(), 0o600)


def store_checkpoint_sqlite(conn: sqlite3.Connection, size: int, root: bytes, note: str) -> None:
    conn.execute(SQLITE_SQL.insert_checkpoint, (size, root, note, time.time()))


def store_checkpoint_postgres(conn: Any, size: int, root: bytes, note: str, sql: AuditSQL | None = None) -> None:
    """``conn``: an autocommit psycopg connection to the store."""
    conn.execute((sql or postgres_sql()).insert_checkpoint, (size, root, note, time.time()))


class Signer:
    """Signs the current tree head after checking it extends the last head it signed."""

    def __init__(
        self,
        keys: KeyDirectory,
        log: AuditLog,
        store: Callable[[int, bytes, str], None] | None = None,
    ) -> None:
        self.keys = keys
        self.log = log
        self.store = store

    def sign(self) -> str:
        size, root = self.log.head()
        vkey = self.keys.verifier_key()
        last = self.keys.last_signed()
        if last is not None:
            self._check_extends(last, size, root)
        heads = self.log.head_index(size)
        note = sign_note(self.keys.private_key(), vkey.name, checkpoint_body(vkey.name, size, root, heads))
        if self.store is not None:
            self.store(size, root, note)
        if last is None or size >= last.size:  # same size: the note may now carry the aggregate index
            self.keys.record_signed(size, root, note)
        return note

    def _check_extends(self, last: SignedState, size: int, root: bytes) -> None:
        if size < last.size:
            raise SignerRefused(
                f"tree size {size} is smaller than the last signed size {last.size}: "
                f"history TRUNCATED after leaf {size - 1}"
            )
        if last.size == 0:
            return
        proof = self.log.consistency_proof(last.size, size)
        try:
            merkle.verify_consistency(last.size, size, last.root, root, proof)
        except merkle.ProofError as e:
            raise SignerRefused(
                f"tree size {size} does not extend the last signed tree size {last.size} ({e}): "
                f"history was rewritten within leaves [0,{last.size})"
            ) from None
