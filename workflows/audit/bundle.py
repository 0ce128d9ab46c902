"""Evidence bundle export for one aggregate (format ``cobuild-audit-bundle/v1``).

A bundle lets a third party check one aggregate's history offline with
``workflows/audit/verifier.py`` alone::

    {"format": "cobuild-audit-bundle/v1",
     "originator_id": "<id as the leaf decodes it>",
     "checkpoint": "<signed note>",
     "tree_size": N,
     "events": [{"leaf_index", "notification_id", "originator_version", "topic",
                 "leaf_input": b64, "state": b64 | null, "inclusion_proof": [b64, ...]}, ...],
     "completeness": {"method": "aggregate-head", "index": i, "entry": b64,
                      "proof": [b64, ...]}      # or {"method": "none"}}

Completeness.  Inclusion proofs show each exported event *is* in the log, and contiguous
versions 1..n rule out gaps, but neither shows that no *later* version exists.  The
checkpoint therefore commits to the aggregate index (``workflows.audit.heads``): for
every aggregate, the leaf of its latest event at the checkpoint's tree size.  The bundle
carries this aggregate's entry and its inclusion proof in that index, so the verifier
checks that the bundle's last event is the latest one, without seeing any other
record's metadata; the bundle grows with the record's events times log(log size).  A
checkpoint signed before the index existed commits to none: a bundle against it says
``{"method": "none"}`` and verifies with "completeness NOT proven".

Header-level fields beside ``leaf_input`` are for reading convenience; the verifier
checks them against the committed header, so editing them is detected too.
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from workflows.audit.recorder import AuditLog
from workflows.audit.verifier import BUNDLE_FORMAT, Checkpoint, VerifierKey, decode_leaf, open_checkpoint

__all__ = ["BUNDLE_FORMAT", "BundleError", "build_bundle"]


class BundleError(Exception):
    """A bundle cannot be built (unknown aggregate, or the store disagrees with the checkpoint)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build_bundle(log: AuditLog, originator_id: UUID | str, checkpoint_note: str, vkey: VerifierKey) -> dict[str, Any]:
    cp = open_checkpoint(checkpoint_note, vkey)
    if log.root(cp.size) != cp.root:
        raise BundleError(f"the store's tree of size {cp.size} does not match the signed checkpoint; "
                          "run `audit verify`")
    evidence = log.evidence(originator_id, cp.size)
    if not evidence:
        raise BundleError(f"no events of aggregate {originator_id} in the log up to size {cp.size}")
    events = []
    for row, state, proof in evidence:
        leaf = decode_leaf(row.leaf_input)
        events.append({
            "leaf_index": row.leaf_index,
            "notification_id": leaf.notification_id,
            "originator_version": leaf.originator_version,
            "topic": leaf.topic,
            "leaf_input": _b64(row.leaf_input),
            "state": None if state is None else _b64(state),
            "inclusion_proof": [_b64(p) for p in proof],
        })
    return {
        "format": BUNDLE_FORMAT,
        "originator_id": decode_leaf(evidence[0][0].leaf_input).originator_id,
        "checkpoint": checkpoint_note,
        "tree_size": cp.size,
        "events": events,
        "completeness": _completeness(log, cp, originator_id),
    }


def _completeness(log: AuditLog, cp: Checkpoint, originator_id: UUID | str) -> dict[str, Any]:
    committed = cp.heads()
    if committed is None:
        return {"method": "none"}
    index = log.head_index(cp.size)
    if (index.count, index.root()) != committed:
        raise BundleError(f"the store's aggregate index at tree size {cp.size} does not match the signed "
                          "checkpoint; run `audit verify` with that checkpoint")
    found = index.find(originator_id)
    if found is None:
        raise BundleError(f"aggregate {originator_id} is not in the aggregate index of tree size {cp.size}")
    position, entry, proof = found
    return {"method": "aggregate-head", "index": position, "entry": _b64(entry),
            "proof": [_b64(p) for p in proof]}
