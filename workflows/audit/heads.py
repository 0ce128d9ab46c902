"""The aggregate index: which event is each aggregate's latest, at a tree size.

A bundle proves that an aggregate's history is complete with this index instead of
every leaf header of the log (docs/audit.md has the reasoning).  At tree size N the
index has one entry per aggregate with an event among leaves [0, N): ``HEAD_TAG ||
u64 leaf index || leaf header`` of its latest event (``verifier.encode_head``), sorted by
the aggregate's encoded id.  Its RFC 9162 root and entry count are signed into the
checkpoint of size N as the extension line ``cobuild-audit-heads/v1 <count> <root>``.

Nothing is stored for it: the index is a function of the leaves, derived when a
checkpoint is signed, a bundle built or an evaluator's checkpoint verified, from the
latest event of each aggregate up to the size (one grouped scan of the events' primary
key index) and that event's committed leaf header.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from workflows.audit import merkle
from workflows.audit.verifier import encode_head, originator_key

__all__ = ["HeadIndex"]


def _keys_for(originator_id: UUID | str) -> list[bytes]:
    """Encoded ids an aggregate may have in a leaf: a UUID, or text (which may also spell
    a UUID, since a caller cannot know how the store keeps ids)."""
    if isinstance(originator_id, UUID):
        return [b"\x01" + originator_id.bytes]
    raw = originator_id.encode("utf-8")
    keys = [b"\x02" + len(raw).to_bytes(2, "big") + raw]
    try:
        keys.insert(0, b"\x01" + UUID(originator_id).bytes)
    except ValueError:
        pass
    return keys


@dataclass(frozen=True)
class HeadIndex:
    """The aggregate index of one tree size, with its perfect nodes in memory."""

    size: int
    keys: list[bytes]
    entries: list[bytes]
    levels: list[list[bytes]]

    @classmethod
    def build(cls, size: int, heads: Iterable[tuple[int, bytes]]) -> HeadIndex:
        """From (leaf index, leaf header) of each aggregate's latest event up to ``size``."""
        rows = sorted((originator_key(leaf), encode_head(index, leaf)) for index, leaf in heads)
        keys = [k for k, _ in rows]
        if any(a == b for a, b in zip(keys, keys[1:])):
            raise ValueError("two latest events for one aggregate")
        entries = [e for _, e in rows]
        sha256 = hashlib.sha256
        level = [sha256(b"\x00" + e).digest() for e in entries]
        levels = [level]
        while len(level) > 1:
            pairs = iter(level)
            level = [sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs)]
            levels.append(level)
        return cls(size, keys, entries, levels)

    def _get(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    @property
    def count(self) -> int:
        return len(self.entries)

    def root(self) -> bytes:
        return merkle.tree_root(self._get, self.count)

    def find(self, originator_id: UUID | str) -> tuple[int, bytes, list[bytes]] | None:
        """(position, entry, inclusion proof) of an aggregate's entry, or None."""
        for key in _keys_for(originator_id):
            i = bisect.bisect_left(self.keys, key)
            if i < self.count and self.keys[i] == key:
                return i, self.entries[i], merkle.inclusion_proof(self._get, i, self.count)
        return None
