"""Evidence bundle export for one aggregate (format ``cobuild-audit-bundle/v1``).

A bundle lets a third party check one aggregate's history offline with
``workflows/audit/verifier.py`` alone::

    {"format": "cobuild-audit-bundle/v1",
     "originator_id": "<id as the leaf decodes it>",
     "checkpoint": "<signed note>",
     "tree_size": N,
     "events": [{"leaf_index", "notification_id", "originator_version", "topic",
                 "leaf_input": b64, "state": b64 | null, "inclusion_proof": [b64, ...]}, ...],
     "completeness": {"method": "log-headers", "headers": [b64, ...]}   # or {"method": "none"}}

Completeness approach.  Inclusion proofs show each exported event *is* in the log, and
contiguous versions 1..n rule out gaps, but neither shows that no *later* version exists.
The bundle therefore carries, by default, the header of every leaf of the checkpoint's
tree (about 120 bytes each, no payloads).  The verifier rebuilds the root from them,
which must equal the signed root, and checks that the leaves naming this aggregate are
exactly the bundle's events.  That is a full proof at a cost linear in the log size,
which is acceptable at this product's volume (thousands to low millions of events a
year); a per-checkpoint commitment to aggregate heads would make it logarithmic and can
be added later without changing the leaves.  ``include_headers=False`` gives a small
bundle whose verification reports completeness as not proven.

Header-level fields beside ``leaf_input`` are for reading convenience; the verifier
checks them against the committed header, so editing them is detected too.
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from workflows.audit.recorder import AuditLog
from workflows.audit.verifier import BUNDLE_FORMAT, VerifierKey, decode_leaf, open_checkpoint

__all__ = ["BUNDLE_FORMAT", "BundleError", "build_bundle"]


class BundleError(Exception):
    """A bundle cannot be built (unknown aggregate, or the store disagrees with the checkpoint)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build_bundle(
    log: AuditLog,
    originator_id: UUID | str,
    checkpoint_note: str,
    vkey: VerifierKey,
    *,
    include_headers: bool = True,
) -> dict[str, Any]:
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
    if include_headers:
        completeness: dict[str, Any] = {
            "method": "log-headers",
            "headers": [_b64(h) for h in log.headers(0, cp.size)],
        }
    else:
        completeness = {"method": "none"}
    return {
        "format": BUNDLE_FORMAT,
        "originator_id": decode_leaf(evidence[0][0].leaf_input).originator_id,
        "checkpoint": checkpoint_note,
        "tree_size": cp.size,
        "events": events,
        "completeness": completeness,
    }
