"""/followups: 督办 cases — opened by the workflow or a supervisor, answered by the
responsible organisation, closed by a supervisor (or by the workflow once the condition
clears)."""
from __future__ import annotations

from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine, etag, expected_version
from api.http.fields import Label, LocalTime, Text, one_of
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Occurred, Represented
from domain import labels
from domain.followup import RESOLUTIONS, STATES, SUBJECT_TYPES, FollowUpCase

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
    at = LocalTime(required=True)


class CaseSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    version = ma.fields.Integer(required=True)
    state = one_of(STATES, required=True)
    state_label = Label("state", labels.FOLLOWUP_STATES)
    subject_type = ma.fields.String(required=True)
    subject_type_label = Label("subject_type", labels.SUBJECT_TYPES)
    subject_id = ma.fields.UUID(required=True)
    rule = ma.fields.String(required=True, metadata={"example": "R2"})
    rule_label = Label("rule", labels.FOLLOWUP_REASONS)
    measured = ma.fields.Dict(required=True, metadata={"description": "what the rule measured"})
    severity = ma.fields.String(required=True)
    severity_label = Label("severity", labels.SEVERITIES)
    note = ma.fields.String(allow_none=True)
    responsible_id = ma.fields.UUID(required=True)
    opened_at = LocalTime(required=True)
    responses = ma.fields.List(ma.fields.Nested(ResponseSchema), required=True)
    resolution = ma.fields.String(allow_none=True)
    resolution_label = Label("resolution", labels.FOLLOWUP_RESOLUTIONS)
    closed_at = LocalTime(allow_none=True)


@command(blp, "", OpenCase, "Open a case by hand (supervisor, admin, in their region)", status=201)
def open_followup(body):
    outcome = engine().open_followup(actor(), **body)
    return created(outcome, f"/followups/{outcome.id}")


@blp.route("/<uuid:case_id>", methods=["GET"])
@blp.response(200, CaseSchema, headers=ETAG_HEADER)
def read_followup(case_id: UUID):
    """Read a case: the responsible organisation, and the regional roles over it."""
    case = engine().read(actor(), FollowUpCase, case_id)
    return case, 200, etag(case.version)


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
