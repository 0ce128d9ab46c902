"""/followups: 督办 cases — opened by the workflow or a supervisor, answered by the
responsible organisation, closed by a supervisor (or by the workflow once the condition
clears)."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine, etag, expected_version
from api.http.fields import Text, one_of
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Occurred, Represented
from domain.followup import RESOLUTIONS, RULE_LABELS, SUBJECT_TYPES, FollowUpCase

blp = Blueprint("followups", __name__, url_prefix="/api/v1/followups",
                description="Follow-up cases (督办): the responsible organisation answers, "
                            "a supervisor closes")


class OpenCase(Occurred):
    subject_type = one_of(SUBJECT_TYPES, required=True)
    subject_id = ma.fields.UUID(required=True, metadata={
        "description": "the pairing, commitment or task the case is about"})
    responsible_id = ma.fields.UUID(required=True, metadata={
        "description": "the organisation that must answer"})
    note = Text(required=True, max_length=2000, multiline=True,
                metadata={"description": "what needs following up"})


class Respond(Occurred, Represented):
    text = Text(required=True, max_length=4000, multiline=True,
                metadata={"example": "已于本月召开联合主题党日，并制定下季度共建计划"})


class Close(Occurred):
    resolution = one_of(RESOLUTIONS, required=True)
    reason = Text(required=True, max_length=2000, multiline=True)


class ResponseSchema(ma.Schema):
    text = ma.fields.String(required=True)
    at = ma.fields.AwareDateTime(required=True)


class CaseSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    version = ma.fields.Integer(required=True)
    state = one_of(("open", "responded", "closed"), required=True)
    subject_type = ma.fields.String(required=True)
    subject_id = ma.fields.UUID(required=True)
    rule = ma.fields.String(required=True, metadata={"example": "R2"})
    rule_label = ma.fields.String(required=True, metadata={"example": "联而不动"})
    measured = ma.fields.Dict(required=True, metadata={"description": "what the rule measured"})
    severity = ma.fields.String(required=True)
    note = ma.fields.String(allow_none=True)
    responsible_id = ma.fields.UUID(required=True)
    opened_at = ma.fields.AwareDateTime(required=True)
    responses = ma.fields.List(ma.fields.Nested(ResponseSchema), required=True)
    resolution = ma.fields.String(allow_none=True)
    closed_at = ma.fields.AwareDateTime(allow_none=True)


def case_body(case: FollowUpCase) -> dict[str, Any]:
    return {"id": case.id, "version": case.version, "state": case.state,
            "subject_type": case.subject_type, "subject_id": case.subject_id, "rule": case.rule,
            "rule_label": RULE_LABELS.get(case.rule, case.rule), "measured": case.measured,
            "severity": case.severity, "note": case.note, "responsible_id": case.responsible_id,
            "opened_at": case.opened_at, "responses": case.responses,
            "resolution": case.resolution, "closed_at": case.closed_at}


@command(blp, "", OpenCase, "Open a case by hand (supervisor, admin, in their region)", status=201)
def open_followup(body):
    outcome = engine().open_followup(actor(), **body)
    return created(outcome, f"/followups/{outcome.id}")


@blp.route("/<uuid:case_id>", methods=["GET"])
@blp.response(200, CaseSchema, headers=ETAG_HEADER)
def read_followup(case_id: UUID):
    """Read a case: the responsible organisation, and the regional roles over it."""
    case = engine().read(actor(), FollowUpCase, case_id)
    return case_body(case), 200, etag(case.version)


@command(blp, "/<uuid:case_id>/respond", Respond,
         "Answer a case (the responsible organisation, or a supervisor entering it for it)")
def respond_followup(body, case_id: UUID):
    return done(engine().respond_followup(actor(), case_id, **body,
                                          expected_version=expected_version()))


@command(blp, "/<uuid:case_id>/close", Close,
         "Close a case: resolved, escalated or dismissed, with a reason (supervisor, admin)")
def close_followup(body, case_id: UUID):
    return done(engine().close_followup(actor(), case_id, **body,
                                        expected_version=expected_version()))
