"""佐证材料: a photo or a PDF attached to an activity, a delivery or a fulfilment.

A file is named by the SHA-256 of its bytes; the event records that digest with the size
and the media type, so the history says exactly which bytes were shown, and a file changed
afterwards no longer matches its event.  The type is what the bytes are (their first
bytes), never what a file name or a browser claims.  Photos are welcome, never required.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable

from domain.errors import InvalidValue

MEDIA_TYPES = ("image/jpeg", "image/png", "application/pdf")
MAX_SIZE = 10 * 1024 * 1024  # a phone photo is 2–6 MB; a scanned page PDF well under 10
MAX_FILES = 9  # per fact: as many as a WeChat post, more is a photo quota, not evidence

# The first bytes of each allowed type (JPEG SOI + marker, the PNG signature, a PDF header).
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
SNIFF_BYTES = max(len(magic) for magic, _ in _MAGIC)
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class FileTooLarge(InvalidValue):
    """The file is larger than ``MAX_SIZE`` (HTTP 413)."""

    code = "file-too-large"

    def __init__(self, size: int) -> None:
        super().__init__("file", f"is {size} bytes; a file has at most {MAX_SIZE // 1024 // 1024} MB")


class FileTypeRefused(InvalidValue):
    """The bytes are not a JPEG, PNG or PDF (HTTP 415)."""

    code = "file-type-refused"

    def __init__(self) -> None:
        super().__init__("file", "must be a JPEG or PNG photo or a PDF (judged by its content)")


def sniff_media_type(head: bytes) -> str | None:
    """The allowed media type the bytes start with, or None."""
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    return None


def check_digest(value: Any) -> str:
    """A file's name: its SHA-256 as 64 lower-case hexadecimal characters."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise InvalidValue("evidence", "a file is named by its SHA-256: 64 lower-case "
                                       "hexadecimal characters")
    return value


@dataclass(frozen=True)
class Evidence:
    """One stored file as an event records it."""

    sha256: str
    size: int
    media_type: str

    def __post_init__(self) -> None:
        check_digest(self.sha256)
        if not isinstance(self.size, int) or isinstance(self.size, bool) \
                or not 0 < self.size <= MAX_SIZE:
            raise InvalidValue("evidence", f"a file has from 1 byte to {MAX_SIZE // 1024 // 1024} MB")
        if self.media_type not in MEDIA_TYPES:
            raise InvalidValue("evidence", f"a file is one of {', '.join(MEDIA_TYPES)}")

    @classmethod
    def of(cls, data: bytes) -> "Evidence":
        """The file as it would be recorded; refused if empty, too large or of another type."""
        if len(data) > MAX_SIZE:
            raise FileTooLarge(len(data))
        if not data:
            raise InvalidValue("file", "is empty")
        media_type = sniff_media_type(data[:SNIFF_BYTES])
        if media_type is None:
            raise FileTypeRefused()
        return cls(hashlib.sha256(data).hexdigest(), len(data), media_type)

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "media_type": self.media_type}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Evidence":
        return cls(data["sha256"], data["size"], data["media_type"])


def check_evidence(items: Iterable[Any] | None) -> list[dict[str, Any]]:
    """The files a fact carries, as its event records them: each once, in the order given."""
    files: dict[str, Evidence] = {}
    for item in items or ():
        if not isinstance(item, Evidence):
            raise InvalidValue("evidence", "must be stored files")
        files.setdefault(item.sha256, item)
    if len(files) > MAX_FILES:
        raise InvalidValue("evidence", f"at most {MAX_FILES} files per record")
    return [f.as_dict() for f in files.values()]


def recorded_evidence(recorded: list[dict[str, Any]] | None) -> list[Evidence]:
    """The files an event recorded (none for events written before files were kept)."""
    return [Evidence.from_dict(d) for d in recorded or ()]
