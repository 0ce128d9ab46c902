"""The aggregate index: which event is each aggregate's latest, at a tree size.

A bundle proves that an aggregate's history is complete with this index instead of
every leaf header of the log (docs/audit.md has the reasoning).  At tree size N the
index has one entry per aggregate with an event among leaves [0, N): ``HEAD_TAG ||
originator id (as leaves encode it) || u64 version || u64 notification id || leaf hash``
of its latest event (``verifier.encode_head``), sorted by the encoded id.  Its RFC 9162
root and entry count are signed into the checkpoint of size N as the extension line
``cobuild-audit-heads/v1 <count> <root>``.

Nothing is stored for it: the index is a function of the log, derived when a checkpoint
is signed, a bundle built or an evaluator's checkpoint verified, from one grouped scan of
the events' primary key index and the committed leaf of each aggregate's latest event
(``AuditSQL.select_heads``).  Ids are read as whole-store verification reads them: a
UUID, or 32 lowercase hex digits (SQLite's spelling of one), take the UUID form; anything
else is text.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from workflows.audit import merkle
from workflows.audit.verifier import HEAD_TAG, encode_originator_id

_LOWER_HEX = re.compile("[0-9a-f]{32}")
_LOWER_HEX_RUN = re.compile("[0-9a-f]*")
# The entry after the id: version, notification id, then the leaf hash (``verifier.encode_head``).
_VERSION_NID = struct.Struct(">QQ")

__all__ = ["HeadIndex"]


def _keys_for(originator_id: UUID | str) -> list[bytes]:
    """Encoded ids an aggregate may have in a leaf: a UUID, or text (which may also spell
    a UUID, since a caller cannot know how the store keeps ids)."""
    keys = [encode_originator_id(originator_id)]
    if not isinstance(originator_id, UUID):
        try:
            keys.insert(0, encode_originator_id(UUID(originator_id)))
        except ValueError:
            pass
    return keys


def stored_key(oid: Any) -> bytes:
    """The leaf encoding of an originator id as a store returns it (UUID, hex or text)."""
    if isinstance(oid, str) and len(oid) == 32 and _LOWER_HEX.fullmatch(oid):
        return encode_originator_id(UUID(hex=oid))
    return encode_originator_id(oid)


@dataclass(frozen=True)
class HeadIndex:
    """The aggregate index of one tree size, with its perfect nodes in memory."""

    size: int
    keys: list[bytes]
    entries: list[bytes]
    levels: list[list[bytes]]

    @classmethod
    def build(cls, size: int, heads: Sequence[tuple[Any, int, int, bytes]]) -> HeadIndex:
        """From (originator id as stored, version, notification id, leaf header) of each
        aggregate's latest event up to ``size``."""
        oids = [r[0] for r in heads]
        if all(type(o) is str for o in oids) and set(map(len, oids)) <= {32} \
                and _LOWER_HEX_RUN.fullmatch("".join(oids)):
            fromhex = bytes.fromhex
            stored = [b"\x01" + fromhex(o) for o in oids]  # the usual store: UUIDs on SQLite
        else:
            stored = [stored_key(o) for o in oids]
        order = sorted(range(len(stored)), key=stored.__getitem__)
        keys = [stored[i] for i in order]
        if any(a == b for a, b in zip(keys, keys[1:])):
            raise ValueError("two latest events for one aggregate")
        pack = _VERSION_NID.pack
        sha256 = hashlib.sha256
        entries = [HEAD_TAG + keys[j] + pack(heads[i][1], heads[i][2]) + sha256(b"\x00" + bytes(heads[i][3])).digest()
                   for j, i in enumerate(order)]
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
