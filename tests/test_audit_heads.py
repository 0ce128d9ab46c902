"""The aggregate index: every record's entry proves against the root a checkpoint signs."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.audit import verifier
from workflows.audit.heads import HeadIndex

# Record ids as SQLite returns them: 32 hex digits for a UUID, or any text.
ids = st.one_of(st.uuids().map(lambda u: u.hex), st.text(min_size=1, max_size=20).filter(lambda t: len(t) != 32))
heads = st.dictionaries(ids, st.integers(1, 2**40), max_size=60)


def _is_uuid_hex(oid: str) -> bool:
    return len(oid) == 32 and all(c in "0123456789abcdef" for c in oid)


@settings(max_examples=60, deadline=None)
@given(heads, st.randoms())
def test_every_entry_proves_its_records_latest_event(latest, rnd):
    rows = [(oid, version, 10_000 + i, f"leaf {i}".encode()) for i, (oid, version) in enumerate(latest.items())]
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    index = HeadIndex.build(123, rows)
    assert index.root() == HeadIndex.build(123, shuffled).root()  # whatever order the database returns
    assert index.count == len(rows)
    # PostgreSQL returns UUID objects where SQLite returns hex: the same index either way.
    as_postgres = [(uuid.UUID(hex=oid) if _is_uuid_hex(oid) else oid, v, n, leaf) for oid, v, n, leaf in rows]
    assert HeadIndex.build(123, as_postgres).root() == index.root()
    for oid, version, nid, leaf in rows:
        spelled = str(uuid.UUID(hex=oid)) if _is_uuid_hex(oid) else oid
        position, entry, proof = index.find(spelled)
        verifier.verify_inclusion(position, index.count, verifier._leaf_hash(entry), proof, index.root())
        key, got_version, got_nid, leaf_hash = verifier.decode_head(entry)
        assert (got_version, got_nid, leaf_hash) == (version, nid, verifier._leaf_hash(leaf))
    assert index.find("x" * 33) is None


@settings(max_examples=40, deadline=None)
@given(heads.filter(bool), st.data())
def test_an_index_that_misstates_one_record_has_another_root(latest, data):
    rows = [(oid, version, 10_000 + i, f"leaf {i}".encode()) for i, (oid, version) in enumerate(latest.items())]
    i = data.draw(st.integers(0, len(rows) - 1))
    oid, version, nid, leaf = rows[i]
    lie = rows[:i] + [(oid, version + 1, nid + 1, leaf)] + rows[i + 1:]
    assert HeadIndex.build(5, lie).root() != HeadIndex.build(5, rows).root()
    assert HeadIndex.build(5, rows[:i] + rows[i + 1:]).root() != HeadIndex.build(5, rows).root()
