"""/audit/<resource>/<id>/history: an aggregate's full event history, for evaluators.

Who may read a history is the engine's visibility rule (``engine.read``); the events and
their log positions come from ``projections.history``, and are answered here as people read
them (times in +08:00, Chinese labels).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, engine, etag, root
from api.http.fields import Label, local_time
from api.http.problems import Problem
from api.http.schemas import ETAG_HEADER
from domain.base import CobuildAggregate
from domain.labels import EVENT_TYPES, ROLES, label
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
ATTRIBUTION = ("originator_id", "originator_version", "timestamp", "actor", "on_behalf_of",
               "occurred_at", "reason")


class HistoryQuery(ma.Schema):
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=10**9),
                              metadata={"description": "return events after this version"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))


class ActorSchema(ma.Schema):
    user_id = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    role_label = Label("role", ROLES)
    organisation_id = ma.fields.String(allow_none=True)


class HistoryItem(ma.Schema):
    position = ma.fields.Integer(allow_none=True, required=True,
                                 metadata={"description": "position in the whole event log"})
    type = ma.fields.String(required=True, metadata={"example": "PairingAccepted"})
    type_label = ma.fields.String(required=True, metadata={
        "example": "接受结对", "description": "the event's Chinese name, as a timeline shows it"})
    version = ma.fields.Integer(required=True)
    occurred_at = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "business time, Asia/Shanghai", "example": "2026-03-01T09:30:00+08:00"})
    recorded_at = ma.fields.String(required=True, metadata={
        "description": "when the log recorded it, Asia/Shanghai",
        "example": "2026-03-01T09:30:01.123456+08:00"})
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
    items = [history_item(event, position) for event, position in page.events]
    return {"items": items, "next_cursor": page.next_cursor}, 200, etag(aggregate.version)


def history_item(event: Any, position: int | None) -> dict[str, Any]:
    fields = vars(event)
    occurred = fields.get("occurred_at")
    return {
        "position": position,
        "type": type(event).__name__,
        "type_label": label(EVENT_TYPES, type(event).__name__),
        "version": event.originator_version,
        "occurred_at": local_time(occurred) if isinstance(occurred, datetime) else None,
        "recorded_at": local_time(event.timestamp),
        "actor": fields.get("actor"),
        "on_behalf_of": plain(fields.get("on_behalf_of")),
        "reason": fields.get("reason"),
        "data": {k: plain(v) for k, v in fields.items() if k not in ATTRIBUTION},
    }


def plain(value: Any) -> Any:
    """Event values as JSON: ids, dates, times and amounts as strings."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return str(value)

