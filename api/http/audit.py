"""/audit: the verifiable log (docs/architecture.md) over HTTP: signed checkpoints, consistency and
inclusion proofs, and an aggregate's evidence bundle to check offline.

Everything here is computed by ``workflows.audit.recorder``, ``workflows.audit.checkpoint`` and
``workflows.audit.bundle``; this module only decides who may ask and how the answer travels.
The log-wide proofs (checkpoint, consistency, inclusion) are for the regional roles
(admin, supervisor, evaluator); an inclusion proof also names an event, so its aggregate
must be in the caller's scope.  A bundle is visible to whoever may read the aggregate's
history.

A checkpoint is signed on demand: asking for the latest one signs the current tree head
when the log has grown since the last one signed, so the answer covers every event
recorded before the request.  Signing is serialised by ``workflows.audit.signing``.
"""
from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

import marshmallow as ma
from eventsourcing.application import AggregateNotFoundError
from flask import Response
from flask_smorest import Blueprint

from api.http.context import actor, engine, root
from api.http.history import SUBJECTS
from api.http.problems import Problem
from domain.base import CobuildAggregate
from workflows.audit.recorder import AuditedRecorder, AuditLog
from workflows.audit.bundle import BundleError, build_bundle
from workflows.audit.checkpoint import SignerRefused
from workflows.audit.signing import SignerBusy
from workflows.authorisation import REGION_ROLES, may_see, require_role
from workflows.errors import Forbidden

blp = Blueprint("verifiable_log", __name__, url_prefix="/api/v1/audit",
                description="Audit: the verifiable log (signed checkpoints, proofs, evidence bundles)")

TEXT = "text/plain"
SIGNER_WAIT = 10.0  # seconds a request waits for a signer in another process


def audited() -> AuditedRecorder:
    recorder = engine().recorder
    if not isinstance(recorder, AuditedRecorder):
        raise Problem(501, "no-verifiable-log",
                      "this event store keeps no verifiable log (the SQLite store does)")
    return recorder


def audit_log() -> AuditLog:
    return audited().audit


def latest_checkpoint() -> str:
    """The checkpoint of the current tree, signed now if the log grew since the last one."""
    try:
        return root().signer.latest(audit_log(), store_checkpoint, SIGNER_WAIT)
    except SignerBusy as busy:
        raise Problem(503, "signer-busy", f"{busy}; try again shortly",
                      headers={"Retry-After": "5"}) from None
    except SignerRefused as refused:
        raise Problem(409, "history-rewritten", str(refused)) from None


def store_checkpoint(size: int, root: bytes, note: str) -> None:
    """Keep the signed head beside the leaves, as ``cobuild audit checkpoint`` does."""
    audited().store_checkpoint(size, root, note, engine().clock.now().timestamp())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def text_response(body: str) -> Response:
    return Response(body, mimetype=TEXT)


def require_auditor() -> None:
    require_role(actor(), "auditor-role", *REGION_ROLES)


TEXT_ANSWER = {"type": "string"}


@blp.route("/checkpoint", methods=["GET"])
@blp.response(200, TEXT_ANSWER, content_type=TEXT,
              description="a C2SP signed note: origin, tree size, base64 root, Ed25519 signature")
def checkpoint():
    """The latest signed tree head (checkpoint) of the event log; keep it to check later
    answers against it."""
    require_auditor()
    return text_response(latest_checkpoint())


@blp.route("/vkey", methods=["GET"])
@blp.response(200, TEXT_ANSWER, content_type=TEXT,
              description="<name>+<key id>+<base64 key>; pin it, ideally from another channel")
def verifier_key():
    """The log's verifier key: the public key that signs checkpoints."""
    return text_response(root().signer.verifier_key())


class ConsistencyQuery(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    from_size = ma.fields.Integer(required=True, data_key="from",
                                  validate=ma.validate.Range(min=1, max=10**12),
                                  metadata={"description": "the size of the older tree"})
    to_size = ma.fields.Integer(data_key="to", validate=ma.validate.Range(min=1, max=10**12),
                                metadata={"description": "the size of the newer tree "
                                                         "(default: the latest checkpoint)"})

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "to_size" in data and data["to_size"] < data["from_size"]:
            raise ma.ValidationError("must not be smaller than from", "to")


class ConsistencyAnswer(ma.Schema):
    from_size = ma.fields.Integer(required=True)
    to_size = ma.fields.Integer(required=True)
    from_root = ma.fields.String(required=True, metadata={"description": "base64"})
    to_root = ma.fields.String(required=True, metadata={"description": "base64"})
    proof = ma.fields.List(ma.fields.String(), required=True,
                           metadata={"description": "RFC 9162 consistency proof, base64 hashes"})
    checkpoint = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "the signed note of the newer tree when it is the latest checkpoint"})


@blp.route("/consistency", methods=["GET"])
@blp.arguments(ConsistencyQuery, location="query", unknown=ma.RAISE)
@blp.response(200, ConsistencyAnswer)
def consistency(query):
    """Proof that the newer tree extends the older one: nothing recorded up to ``from`` was
    altered, removed or reordered since."""
    require_auditor()
    log = audit_log()
    note = None
    size2 = query.get("to_size")
    if size2 is None:
        note = latest_checkpoint()
        size2 = int(note.split("\n")[1])
    size1 = query["from_size"]
    if size1 > size2:
        raise Problem(422, "invalid-fields", "from is beyond the newer tree",
                      errors={"from": [f"must be at most {size2}"]})
    try:
        root1 = log.root(size1)
        root2 = log.root(size2)
        proof = log.consistency_proof(size1, size2)
    except ValueError as error:
        raise Problem(422, "invalid-fields", str(error), errors={"to": [str(error)]}) from None
    return {"from_size": size1, "to_size": size2, "from_root": b64(root1), "to_root": b64(root2),
            "proof": [b64(p) for p in proof], "checkpoint": note}


class InclusionQuery(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    position = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=10**12),
                                 metadata={"description": "the event's log position (as the "
                                                          "history and command answers show it)"})
    size = ma.fields.Integer(validate=ma.validate.Range(min=1, max=10**12), metadata={
        "description": "the tree size to prove against (default: the latest checkpoint)"})


class InclusionAnswer(ma.Schema):
    position = ma.fields.Integer(required=True)
    leaf_index = ma.fields.Integer(required=True)
    tree_size = ma.fields.Integer(required=True)
    root = ma.fields.String(required=True, metadata={"description": "base64"})
    leaf_input = ma.fields.String(required=True, metadata={
        "description": "the leaf header, base64 (hash it with a 0x00 prefix for the leaf hash)"})
    proof = ma.fields.List(ma.fields.String(), required=True,
                           metadata={"description": "RFC 9162 inclusion proof, base64 hashes"})
    checkpoint = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "the signed note of the tree when it is the latest checkpoint"})


@blp.route("/inclusion", methods=["GET"])
@blp.arguments(InclusionQuery, location="query", unknown=ma.RAISE)
@blp.response(200, InclusionAnswer)
def inclusion(query):
    """Proof that the event at a log position is in the tree of a given size."""
    require_auditor()
    log = audit_log()
    row = log.leaf_at(query["position"])
    if row is None:
        raise Problem(404, "not-found", f"no event at log position {query['position']}")
    require_in_scope(row.leaf.originator_id)
    note = None
    size = query.get("size")
    if size is None:
        note = latest_checkpoint()
        size = int(note.split("\n")[1])
    if row.leaf_index >= size:
        raise Problem(422, "invalid-fields", "the event is not in a tree of that size",
                      errors={"size": [f"must be more than {row.leaf_index}, the event's leaf index"]})
    try:
        root = log.root(size)
        proof = log.inclusion_proof(row.leaf_index, size)
    except ValueError as error:
        raise Problem(422, "invalid-fields", str(error), errors={"size": [str(error)]}) from None
    return {"position": row.notification_id, "leaf_index": row.leaf_index, "tree_size": size,
            "root": b64(root), "leaf_input": b64(row.leaf_input),
            "proof": [b64(p) for p in proof], "checkpoint": note}


def require_in_scope(originator_id: str) -> None:
    """The event's aggregate must be one the caller may see (its parties' region)."""
    eng = engine()
    try:
        aggregate: CobuildAggregate = eng.repository.get(UUID(originator_id))
    except (ValueError, AggregateNotFoundError):
        raise Problem(404, "not-found", "the event's record cannot be read") from None
    parties = eng.parties(aggregate)
    if parties and not may_see(actor(), *parties):
        raise Forbidden("not-in-scope", "this event belongs to a record outside your region")


class BundleQuery(ma.Schema):
    """No parameters: the bundle proves completeness with the aggregate index, so it never
    carries other records' metadata (the earlier ``headers`` option, every leaf header of
    the log, is gone)."""

    class Meta:
        unknown = ma.RAISE


class BundleEvent(ma.Schema):
    leaf_index = ma.fields.Integer(required=True)
    notification_id = ma.fields.Integer(required=True)
    originator_version = ma.fields.Integer(required=True)
    topic = ma.fields.String(required=True)
    leaf_input = ma.fields.String(required=True)
    state = ma.fields.String(required=True, allow_none=True)
    inclusion_proof = ma.fields.List(ma.fields.String(), required=True)


class Completeness(ma.Schema):
    method = ma.fields.String(required=True, metadata={
        "example": "aggregate-head",
        "description": "aggregate-head: the record's entry in the aggregate index the checkpoint signs; "
                       "none: the checkpoint predates the index"})
    index = ma.fields.Integer(metadata={"description": "the entry's position in the aggregate index"})
    entry = ma.fields.String(metadata={"description": "base64: the record's id, and the version and log "
                                                      "position of its latest event"})
    proof = ma.fields.List(ma.fields.String(), metadata={
        "description": "RFC 9162 inclusion proof of the entry in the aggregate index, base64 hashes"})


class BundleAnswer(ma.Schema):
    format = ma.fields.String(required=True, metadata={"example": "cobuild-audit-bundle/v1"})
    originator_id = ma.fields.String(required=True)
    checkpoint = ma.fields.String(required=True)
    tree_size = ma.fields.Integer(required=True)
    events = ma.fields.List(ma.fields.Nested(BundleEvent), required=True)
    completeness = ma.fields.Nested(Completeness, required=True)


@blp.route("/<resource>/<uuid:aggregate_id>/bundle", methods=["GET"])
@blp.arguments(BundleQuery, location="query", unknown=ma.RAISE)
@blp.response(200, BundleAnswer)
def bundle(query, resource: str, aggregate_id: UUID):
    """An aggregate's evidence bundle: its events with inclusion proofs against the latest
    checkpoint and the proof that none of its events is left out, to check offline with
    ``workflows/audit/verifier.py`` (``cobuild audit verify-bundle --require-complete``)."""
    cls = SUBJECTS.get(resource)
    if cls is None:
        raise Problem(404, "not-found", f"no evidence bundle for {resource!r}; use one of "
                      f"{', '.join(sorted(SUBJECTS))}")
    engine().read(actor(), cls, aggregate_id)
    note = latest_checkpoint()
    try:
        return build_bundle(audit_log(), aggregate_id, note, root().signer.keys.verifier_key())
    except BundleError as error:
        raise Problem(409, "bundle-unavailable", str(error)) from None
