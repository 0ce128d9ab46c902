"""Evidence files (photos, PDFs) kept by their SHA-256 under the data folder.

A file's name is the hash of its bytes (``evidence/ab/cdef…``), so the events that name a
hash (``evidence_sha256``) point at exactly those bytes, the same photo uploaded twice is
kept once, and a file whose bytes changed no longer matches its name (``mismatched``, which
``cobuild audit verify`` reports).  Only JPEG, PNG and PDF are taken, recognised by their
first bytes rather than by a name or a browser's word, up to ``MAX_BYTES``.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MAX_BYTES = 10 * 1024 * 1024
FOLDER = "evidence"
# What a file is, from its first bytes.
KINDS = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
         (b"%PDF-", "application/pdf"))
_HEX = re.compile(r"^[0-9a-f]{64}$")


class Refused(ValueError):
    """The file is not one cobuild keeps: ``reason`` is ``too-large``, ``empty`` or ``type``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Evidence:
    sha256: str
    size: int
    media_type: str


def media_type(head: bytes) -> str | None:
    for magic, kind in KINDS:
        if head.startswith(magic):
            return kind
    return None


class EvidenceStore:
    def __init__(self, home: Path) -> None:
        self.root = Path(home) / FOLDER

    def path(self, sha256: str) -> Path:
        if not _HEX.match(sha256):
            raise KeyError(sha256)
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> Evidence:
        """Keep ``data`` (checked first) and answer its hash, size and type."""
        if not data:
            raise Refused("empty")
        if len(data) > MAX_BYTES:
            raise Refused("too-large")
        kind = media_type(data[:16])
        if kind is None:
            raise Refused("type")
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = target.parent / f".{digest[:8]}.{secrets.token_hex(4)}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)  # whole or not at all
        return Evidence(digest, len(data), kind)

    def describe(self, sha256: str) -> Evidence | None:
        """Size and type of a kept file (None when it is not here)."""
        try:
            target = self.path(sha256)
            with target.open("rb") as handle:
                head = handle.read(16)
            return Evidence(sha256, target.stat().st_size, media_type(head) or "application/octet-stream")
        except (KeyError, OSError):
            return None

    def files(self) -> Iterator[tuple[str, Path]]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if not path.name.startswith("."):
                    yield folder.name + path.name, path

    def mismatched(self) -> list[str]:
        """The kept files whose bytes no longer hash to their name."""
        bad = []
        for name, path in self.files():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != name:
                bad.append(name)
        return bad
