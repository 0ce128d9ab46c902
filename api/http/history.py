"""/audit/<resource>/<id>/history: an aggregate's full event history, for evaluators.

Who may read a history is the engine's visibility rule (``engine.read``); the events and
their log positions come from ``projections.history``.
"""
from __future__ import annotations

from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, engine, etag, root
from api.http.problems import Problem
from api.http.schemas import ETAG_HEADER
from domain.base import CobuildAggregate
from domain.commitment import PublicCommitment
from domain.organisation import Organisation
from domain.pairing import Pairing
from domain.task import ServiceTask

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
                description="Audit: an aggregate's full event history")

SUBJECTS: dict[str, type[CobuildAggregate]] = {
    "organisations": Organisation,
    "pairings": Pairing,
    "commitments": PublicCommitment,
    "tasks": ServiceTask,
}


class HistoryQuery(ma.Schema):
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=10**9),
                              metadata={"description": "return events after this version"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))


class ActorSchema(ma.Schema):
    user_id = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    organisation_id = ma.fields.String(allow_none=True)


class HistoryItem(ma.Schema):
    position = ma.fields.Integer(allow_none=True, required=True,
                                 metadata={"description": "position in the whole event log"})
    type = ma.fields.String(required=True, metadata={"example": "PairingAccepted"})
    version = ma.fields.Integer(required=True)
    occurred_at = ma.fields.String(allow_none=True, required=True)
    recorded_at = ma.fields.String(required=True)
    actor = ma.fields.Nested(ActorSchema, allow_none=True, required=True)
    on_behalf_of = ma.fields.String(allow_none=True, required=True)
    reason = ma.fields.String(allow_none=True, required=True)
    data = ma.fields.Dict(required=True)


class History(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(HistoryItem), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True,
                                   metadata={"description": "pass as ?after= for the next page"})


@blp.route("/<resource>/<uuid:aggregate_id>/history", methods=["GET"])
@blp.arguments(HistoryQuery, location="query", unknown=ma.RAISE)
@blp.response(200, History, headers=ETAG_HEADER)
def history(query, resource: str, aggregate_id: UUID):
    """The events of one organisation, pairing, commitment or task, oldest first, with who and when."""
    cls = SUBJECTS.get(resource)
    if cls is None:
        raise Problem(404, "not-found", f"no audit history for {resource!r}; use one of "
                      f"{', '.join(sorted(SUBJECTS))}")
    aggregate = engine().read(actor(), cls, aggregate_id)
    page = root().history.page(aggregate_id, aggregate.version, query["after"], query["limit"])
    return {"items": page.items, "next_cursor": page.next_cursor}, 200, etag(aggregate.version)
