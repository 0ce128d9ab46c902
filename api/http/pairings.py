"""/pairings: 结对关系 and their activities."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine, etag, expected_version
from api.http.fields import Label, Labels, LocalDate, LocalTime, Moment, Sha256, Text, one_of
from api.http.problems import Problem
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Body, Occurred, Represented
from domain import labels
from domain.pairing import ACTIVITY_KINDS, AREAS, Pairing

blp = Blueprint("pairings", __name__, url_prefix="/api/v1/pairings",
                description="Pairings (结对关系), their agreements and activities")


class ProposePairing(Occurred, Represented):
    giver_id = ma.fields.UUID(required=True)
    receiver_id = ma.fields.UUID(required=True)
    term_start = LocalDate(required=True)
    term_end = LocalDate(required=True)
    areas = ma.fields.List(one_of(AREAS), load_default=list, validate=ma.validate.Length(max=len(AREAS)))


class PartyAct(Occurred, Represented):
    """An act of one side of the pairing."""


class PartyRefusal(PartyAct):
    reason = Text(required=True, max_length=2000, multiline=True)


class SupervisorAct(Occurred):
    """An act of the organisation department (admin, supervisor)."""


class SupervisorRefusal(SupervisorAct):
    reason = Text(required=True, max_length=2000, multiline=True)


class SignAgreement(Represented):
    signed_on = LocalDate(required=True)
    document_sha256 = Sha256()


class Renew(Body):
    term_end = LocalDate(required=True)


class Participants(Body):
    giver = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=100000))
    receiver = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=100000))
    masses = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=100000))


class RecordActivity(Represented):
    kind = one_of(ACTIVITY_KINDS, required=True)
    title = Text(required=True, max_length=200)
    occurred_at = Moment(required=True)
    participants = ma.fields.Nested(Participants)
    evidence_sha256 = Sha256()


class ContestActivity(Represented):
    reason = Text(required=True, max_length=2000, multiline=True)


class ActivityCreated(ma.Schema):
    id = ma.fields.UUID(required=True)
    state = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    position = ma.fields.Integer(allow_none=True)
    activity_id = ma.fields.String(required=True)


class ActivitySchema(ma.Schema):
    activity_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    kind_label = Label("kind", labels.ACTIVITY_KINDS)
    title = ma.fields.String(required=True)
    recorded_by = ma.fields.String(required=True, metadata={"description": "giver or receiver"})
    recorded_by_label = Label("recorded_by", labels.SIDES)
    occurred_at = LocalTime(required=True)
    status = ma.fields.String(required=True, metadata={"description": "recorded, cosigned or contested"})
    status_label = Label("status", labels.ACTIVITY_STATUSES)
    participants = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class FlagSchema(ma.Schema):
    rule = ma.fields.String(required=True)
    rule_label = Label("rule", labels.RULES)
    severity = ma.fields.String(required=True)
    severity_label = Label("severity", labels.SEVERITIES)
    measured = ma.fields.Dict()
    since = LocalTime()


class PairingSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    version = ma.fields.Integer(required=True)
    state = ma.fields.String(required=True)
    state_label = Label("state", labels.PAIRING_STATES)
    giver_id = ma.fields.UUID(required=True)
    receiver_id = ma.fields.UUID(required=True)
    term_start = ma.fields.Date(required=True)
    term_end = ma.fields.Date(required=True)
    areas = ma.fields.List(ma.fields.String())
    area_labels = Labels("areas", labels.AREAS)
    signed_on = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Date(),
                               metadata={"description": "date each side signed the agreement"})
    in_force_since = ma.fields.Date(allow_none=True)
    activities = ma.fields.List(ma.fields.Nested(ActivitySchema))
    flags = ma.fields.List(ma.fields.Nested(FlagSchema))


def activity_body(activity_id: str, activity: dict[str, Any]) -> dict[str, Any]:
    return {"activity_id": activity_id, **activity}


def pairing_body(p: Pairing) -> dict[str, Any]:
    return {
        "id": p.id, "version": p.version, "state": p.state, "giver_id": p.giver_id,
        "receiver_id": p.receiver_id, "term_start": p.term_start, "term_end": p.term_end,
        "areas": p.areas, "signed_on": p.signed_on, "in_force_since": p.in_force_since,
        "activities": [activity_body(i, a) for i, a in p.activities.items()],
        "flags": [{"rule": rule, **flag} for rule, flag in p.flags.items()],
    }


@command(blp, "", ProposePairing, "Propose a pairing (the giving agency, or admin/supervisor)",
         status=201)
def propose_pairing(body):
    outcome = engine().propose_pairing(actor(), **body)
    return created(outcome, f"/pairings/{outcome.id}")


@blp.route("/<uuid:pairing_id>", methods=["GET"])
@blp.response(200, PairingSchema, headers=ETAG_HEADER)
def read_pairing(pairing_id: UUID):
    """Read a pairing with its activities and open inactivity flags."""
    pairing = engine().read(actor(), Pairing, pairing_id)
    return pairing_body(pairing), 200, etag(pairing.version)


@blp.route("/<uuid:pairing_id>/activities/<activity_id>", methods=["GET"])
@blp.response(200, ActivitySchema, headers=ETAG_HEADER)
def read_activity(pairing_id: UUID, activity_id: str):
    """Read one activity of a pairing."""
    pairing = engine().read(actor(), Pairing, pairing_id)
    activity = pairing.activities.get(activity_id)
    if activity is None:
        raise Problem(404, "not-found", f"no activity {activity_id} on this pairing")
    return activity_body(activity_id, activity), 200, etag(pairing.version)


@command(blp, "/<uuid:pairing_id>/accept", PartyAct, "Accept a proposed pairing (the receiver)")
def accept_pairing(body, pairing_id: UUID):
    return done(engine().accept_pairing(actor(), pairing_id, **body,
                                        expected_version=expected_version()))


@command(blp, "/<uuid:pairing_id>/decline", PartyRefusal, "Decline a proposed pairing (the receiver)")
def decline_pairing(body, pairing_id: UUID):
    return done(engine().decline_pairing(actor(), pairing_id, **body,
                                         expected_version=expected_version()))


@command(blp, "/<uuid:pairing_id>/sign-agreement", SignAgreement,
         "Sign the co-building agreement (each side once); in force when both have signed")
def sign_agreement(body, pairing_id: UUID):
    return done(engine().sign_agreement(actor(), pairing_id, **body,
                                        expected_version=expected_version()))


@command(blp, "/<uuid:pairing_id>/suspend", SupervisorRefusal, "Suspend a pairing (admin, supervisor)")
def suspend_pairing(body, pairing_id: UUID):
    return done(engine().suspend_pairing(actor(), pairing_id, **body,
                                         expected_version=expected_version()))


@command(blp, "/<uuid:pairing_id>/resume", SupervisorAct, "Resume a suspended pairing (admin, supervisor)")
def resume_pairing(body, pairing_id: UUID):
    return done(engine().resume_pairing(actor(), pairing_id, **body,
                                        expected_version=expected_version()))


@command(blp, "/<uuid:pairing_id>/terminate", SupervisorRefusal, "Terminate a pairing (admin, supervisor)")
def terminate_pairing(body, pairing_id: UUID):
    return done(engine().terminate_pairing(actor(), pairing_id, **body,
                                           expected_version=expected_version()))


@command(blp, "/<uuid:pairing_id>/renew", Renew, "Extend the term of a pairing in force (admin, supervisor)")
def renew_pairing(body, pairing_id: UUID):
    return done(engine().renew_pairing(actor(), pairing_id, **body,
                                       expected_version=expected_version()))


@command(blp, "/<uuid:pairing_id>/activities", RecordActivity,
         "Record an activity (either side); the other side co-signs or contests it",
         status=201, answer=ActivityCreated)
def record_activity(body, pairing_id: UUID):
    outcome = engine().record_activity(actor(), pairing_id, **body,
                                       expected_version=expected_version())
    return created(outcome, f"/pairings/{pairing_id}/activities/{outcome.details['activity_id']}")


@command(blp, "/<uuid:pairing_id>/activities/<activity_id>/cosign", PartyAct,
         "Co-sign an activity (the other side); only co-signed activities count")
def cosign_activity(body, pairing_id: UUID, activity_id: str):
    return done(engine().cosign_activity(actor(), pairing_id, activity_id, **body,
                                         expected_version=expected_version()))


@command(blp, "/<uuid:pairing_id>/activities/<activity_id>/contest", ContestActivity,
         "Contest an activity (the other side)")
def contest_activity(body, pairing_id: UUID, activity_id: str):
    return done(engine().contest_activity(actor(), pairing_id, activity_id, **body,
                                          expected_version=expected_version()))
