"""Evidence files (photos, PDFs) stored by the SHA-256 of their bytes.

The bytes live in ``<COBUILD_HOME>/evidence/<2 hex>/<64 hex>`` (``Settings.evidence_folder``)
on both deployments; on PostgreSQL with API workers on several hosts that folder is their
shared storage (docs/deployment.md).  Files are written atomically (a temporary file in the
same folder, fsync, rename, fsync of the folder), owner-only (0600 in 0700 folders), and
never rewritten: the same bytes uploaded twice are stored once.

Who may read a file is decided by the engine (``workflows.evidence``) from two facts kept in
the side store ``evidence`` (:class:`SqlStore`: the PostgreSQL database in production, so
every process sees them): who uploaded it, and which records refer to it.  The size and
media type are kept there too, as they were judged when the bytes arrived.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

from domain.evidence import Evidence, check_digest
from workflows.store import schema
from workflows.store.settings import Settings
from workflows.store.sqlstore import SqlStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS evidence_files (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence_uploads (
    sha256 TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (sha256, user_id)
);
CREATE TABLE IF NOT EXISTS evidence_refs (
    sha256 TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    PRIMARY KEY (sha256, aggregate_id)
)
"""
_CHUNK = 1 << 16


@schema.step("evidence", 1, "evidence files: size, type, uploaders and the records that refer to each")
def _create(settings: Settings) -> None:
    store = SqlStore(settings, "evidence", pool_size=1)
    try:
        store.script(SCHEMA)
    finally:
        store.close()


class EvidenceStore:
    def __init__(self, settings: Settings) -> None:
        self.folder = settings.evidence_folder
        self.meta = SqlStore(settings, "evidence")

    def close(self) -> None:
        self.meta.close()

    # -- bytes ---------------------------------------------------------------------------

    def path(self, sha256: str) -> Path:
        name = check_digest(sha256)  # never a path of the caller's choosing
        return self.folder / name[:2] / name

    def put(self, data: bytes, uploaded_by: str | None = None) -> Evidence:
        """Store the bytes (refused if too large or not a JPEG, PNG or PDF) once."""
        evidence = Evidence.of(data)
        path = self.path(evidence.sha256)
        if not self.verify(evidence.sha256):  # absent, or damaged: write it (again)
            _write_atomically(path, data)
        now = datetime.now(timezone.utc).isoformat()
        with self.meta.write() as cur:
            cur.execute("INSERT INTO evidence_files (sha256, size, media_type, stored_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                        (evidence.sha256, evidence.size, evidence.media_type, now))
            if uploaded_by is not None:
                cur.execute("INSERT INTO evidence_uploads (sha256, user_id) VALUES (?, ?) "
                            "ON CONFLICT (sha256, user_id) DO NOTHING",
                            (evidence.sha256, uploaded_by))
        return evidence

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes (``FileNotFoundError`` if there are none)."""
        return open(self.path(sha256), "rb")

    def verify(self, sha256: str) -> bool:
        """Whether the file is there and its bytes still hash to its name."""
        return fault(self.folder, sha256) is None

    # -- what is known about a file -------------------------------------------------------

    def get(self, sha256: str) -> Evidence | None:
        """The file as recorded when it arrived, if it did."""
        with self.meta.read() as cur:
            row = cur.execute("SELECT size, media_type FROM evidence_files WHERE sha256 = ?",
                              (sha256,)).fetchone()
        return None if row is None else Evidence(sha256, int(row[0]), row[1])

    def uploaded_by(self, sha256: str, user_id: str) -> bool:
        with self.meta.read() as cur:
            return cur.execute("SELECT 1 FROM evidence_uploads WHERE sha256 = ? AND user_id = ?",
                               (sha256, user_id)).fetchone() is not None

    def refer(self, aggregate_id: UUID, files: list[Evidence]) -> None:
        """``aggregate_id``'s record refers to ``files``: its readers may read them."""
        with self.meta.write() as cur:
            cur.executemany("INSERT INTO evidence_refs (sha256, aggregate_id) VALUES (?, ?) "
                            "ON CONFLICT (sha256, aggregate_id) DO NOTHING",
                            [(f.sha256, str(aggregate_id)) for f in files])

    def references(self, sha256: str) -> list[UUID]:
        with self.meta.read() as cur:
            rows = cur.execute("SELECT aggregate_id FROM evidence_refs WHERE sha256 = ? "
                               "ORDER BY aggregate_id", (sha256,)).fetchall()
        return [UUID(r[0]) for r in rows]


def fault(folder: Path, sha256: str) -> str | None:
    """What is wrong with the file ``sha256`` under ``folder``: ``"missing"``, ``"changed"``
    (its bytes no longer hash to its name), or None."""
    name = check_digest(sha256)
    digest = hashlib.sha256()
    try:
        with open(folder / name[:2] / name, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return "missing"
    return None if digest.hexdigest() == name else "changed"


def _write_atomically(path: Path, data: bytes) -> None:
    for folder in (path.parent.parent, path.parent):
        folder.mkdir(mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename survives a power cut only once the folder's entry is on disk too.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
