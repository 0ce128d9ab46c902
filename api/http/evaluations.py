"""/evaluations: the yearly evaluation round of a region (年度考核 / 结果联评).

The admin opens it; each side of a pairing rates the other on the five 五好; a supervisor
records the satisfaction survey; an evaluator computes the scores from confirmed facts and
freezes them into the round; the admin publicises them (公示), parties object, an evaluator
rules on the objections, and the admin finalises the grades.  Results are listed, never
ranked."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine, etag, expected_version, root
from api.http.fields import Label, LocalDate, LocalTime, Text, one_of
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Body, Occurred, OutcomeSchema, Represented
from domain import labels
from domain.evaluation import RESOLUTIONS, STATES, EvaluationRound
from projections.evaluations import ProjectionScorer

blp = Blueprint("evaluations", __name__, url_prefix="/api/v1/evaluations",
                description="Evaluation rounds (年度考核 / 结果联评): ratings, satisfaction, "
                            "scores, publicity, objections, final grades")

SCORE = ma.validate.Range(min=0, max=100)
COUNT = ma.validate.Range(min=0, max=1_000_000)


class OpenRound(Occurred):
    year = ma.fields.Integer(required=True, strict=True,
                             validate=ma.validate.Range(min=2000, max=2100))
    region_code = Text(required=True, max_length=12, validate=ma.validate.Regexp(
        r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})$",
        error="must be a division code of 2, 4, 6, 9 or 12 ASCII digits"),
        metadata={"example": "331123"})
    rule_set_version = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0),
                                         metadata={"description": "default: the current one"})


class Scores(Body):
    ideology = ma.fields.Integer(required=True, strict=True, validate=SCORE,
                                 metadata={"description": labels.FIVE_GOOD["ideology"]})
    mechanism = ma.fields.Integer(required=True, strict=True, validate=SCORE,
                                  metadata={"description": labels.FIVE_GOOD["mechanism"]})
    teamwork = ma.fields.Integer(required=True, strict=True, validate=SCORE,
                                 metadata={"description": labels.FIVE_GOOD["teamwork"]})
    results = ma.fields.Integer(required=True, strict=True, validate=SCORE,
                                metadata={"description": labels.FIVE_GOOD["results"]})
    response = ma.fields.Integer(required=True, strict=True, validate=SCORE,
                                 metadata={"description": labels.FIVE_GOOD["response"]})


class JointRating(Occurred, Represented):
    pairing_id = ma.fields.UUID(required=True)
    scores = ma.fields.Nested(Scores, required=True)


class Counts(Body):
    satisfied = ma.fields.Integer(strict=True, validate=COUNT, load_default=0,
                                  metadata={"description": labels.SATISFACTION_LEVELS["satisfied"]})
    basically_satisfied = ma.fields.Integer(
        strict=True, validate=COUNT, load_default=0,
        metadata={"description": labels.SATISFACTION_LEVELS["basically_satisfied"]})
    dissatisfied = ma.fields.Integer(strict=True, validate=COUNT, load_default=0,
                                     metadata={"description": labels.SATISFACTION_LEVELS["dissatisfied"]})
    # ``unknown`` is also a Schema attribute (what to do with unknown fields): the field keeps
    # the name in the JSON only.
    unknown_count = ma.fields.Integer(strict=True, validate=COUNT, load_default=0,
                                      data_key="unknown", attribute="unknown",
                                      metadata={"description": labels.SATISFACTION_LEVELS["unknown"]})


class Satisfaction(Occurred):
    pairing_id = ma.fields.UUID(required=True)
    counts = ma.fields.Nested(Counts, required=True)


class Compute(Body):
    """Computing takes no fields: the round's year, region and rule set decide."""


class PubliciseResult(Body):
    from_on = LocalDate(metadata={"description": "first day of the publicity period (default: today)"})
    days = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=90),
                             metadata={"description": "default: the rule set's publicity_days"})


class Finalise(Body):
    """Finalising takes no fields."""


class Object(Occurred, Represented):
    reason = Text(required=True, max_length=2000, multiline=True)
    pairing_id = ma.fields.UUID(metadata={"description": "the pairing objected to, if one"})


class Resolve(Occurred):
    resolution = one_of(RESOLUTIONS, required=True, metadata={
        "description": "dismissed: the result stands; upheld: the round reopens for correction"})
    reason = Text(required=True, max_length=2000, multiline=True)


class ObjectionRaised(OutcomeSchema):
    objection_id = ma.fields.String(required=True)


class Computed(OutcomeSchema):
    pairings = ma.fields.Integer(required=True)
    organisations = ma.fields.Integer(required=True)


class Publicised(OutcomeSchema):
    from_on = ma.fields.String(required=True, metadata={"format": "date"})
    until = ma.fields.String(required=True, metadata={"format": "date"})


class ObjectionSchema(ma.Schema):
    objection_id = ma.fields.String(required=True)
    organisation_id = ma.fields.UUID(allow_none=True)
    pairing_id = ma.fields.UUID(allow_none=True)
    reason = ma.fields.String(required=True)
    raised_at = LocalTime(required=True)
    resolution = ma.fields.String(allow_none=True)
    resolution_label = Label("resolution", labels.OBJECTION_RESOLUTIONS)


class RoundSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    version = ma.fields.Integer(required=True)
    year = ma.fields.Integer(required=True)
    region_code = ma.fields.String(required=True)
    state = one_of(STATES, required=True)
    state_label = Label("state", labels.EVALUATION_STATES)
    rule_set_version = ma.fields.Integer(required=True)
    ratings = ma.fields.Dict(required=True, metadata={
        "description": "per pairing, per side that rated (giver, receiver): its 五好 scores of the other"})
    satisfaction = ma.fields.Dict(required=True, metadata={
        "description": "per pairing: how many answered each level"})
    snapshot = ma.fields.Dict(allow_none=True, metadata={
        "description": "the computed indicators, points and grades, frozen into the round"})
    publicity = ma.fields.Dict(allow_none=True, metadata={"description": "from_on, until"})
    objections = ma.fields.List(ma.fields.Nested(ObjectionSchema), required=True)
    grades = ma.fields.Dict(allow_none=True, metadata={"description": "the final grades"})


def round_body(r: EvaluationRound) -> dict[str, Any]:
    return {"id": r.id, "version": r.version, "year": r.year, "region_code": r.region,
            "state": r.state,
            "rule_set_version": r.rule_set_version, "ratings": r.ratings,
            "satisfaction": r.satisfaction, "snapshot": r.snapshot,
            "publicity": ({k: v.isoformat() for k, v in r.publicity.items()}
                          if r.publicity else None),
            "objections": [{"objection_id": k, **o} for k, o in r.objections.items()],
            "grades": r.grades}


@command(blp, "", OpenRound, "Open the round of a region for a year (admin)", status=201)
def open_round(body):
    outcome = engine().open_evaluation(actor(), body["year"], body["region_code"],
                                       body.get("rule_set_version"), body.get("occurred_at"))
    return created(outcome, f"/evaluations/{outcome.id}")


@blp.route("/<uuid:round_id>", methods=["GET"])
@blp.response(200, RoundSchema, headers=ETAG_HEADER)
def read_round(round_id: UUID):
    """Read a round: the regional roles of its region, and the organisations it is about."""
    evaluation = engine().evaluation_round(actor(), round_id)
    return round_body(evaluation), 200, etag(evaluation.version)


@command(blp, "/<uuid:round_id>/ratings", JointRating,
         "Rate the other side of a pairing on the five 五好 (a party of the pairing)")
def rate(body, round_id: UUID):
    return done(engine().submit_joint_rating(actor(), round_id, **body,
                                             expected_version=expected_version()))


@command(blp, "/<uuid:round_id>/satisfaction", Satisfaction,
         "Record the satisfaction survey of a pairing's village (supervisor, admin)")
def satisfaction(body, round_id: UUID):
    return done(engine().record_evaluation_satisfaction(actor(), round_id, **body,
                                                        expected_version=expected_version()))


@command(blp, "/<uuid:round_id>/compute", Compute,
         "Compute the scores from confirmed facts and freeze them into the round (evaluator)",
         answer=Computed)
def compute(body, round_id: UUID):
    scorer = ProjectionScorer(root().projections)
    return done(engine().compute_evaluation(actor(), round_id, scorer,
                                            expected_version=expected_version()))


@command(blp, "/<uuid:round_id>/publicise", PubliciseResult,
         "Publicise the computed result (公示, admin)", answer=Publicised)
def publicise(body, round_id: UUID):
    return done(engine().publicise_evaluation(actor(), round_id, body.get("from_on"),
                                              body.get("days"),
                                              expected_version=expected_version()))


@command(blp, "/<uuid:round_id>/objections", Object,
         "Object to the publicised result (a party of the round)", status=201,
         answer=ObjectionRaised)
def raise_objection(body, round_id: UUID):
    outcome = engine().raise_evaluation_objection(actor(), round_id, **body,
                                                  expected_version=expected_version())
    return created(outcome, f"/evaluations/{round_id}")


@command(blp, "/<uuid:round_id>/objections/<objection_id>/resolve", Resolve,
         "Rule on an objection: upheld or dismissed, with a reason (evaluator, admin)")
def resolve_objection(body, round_id: UUID, objection_id: str):
    return done(engine().resolve_evaluation_objection(
        actor(), round_id, objection_id, body["resolution"], body["reason"],
        body.get("occurred_at"), expected_version=expected_version()))


@command(blp, "/<uuid:round_id>/finalise", Finalise,
         "Finalise the grades after the publicity period, no objection open (admin)")
def finalise(body, round_id: UUID):
    return done(engine().finalise_evaluation(actor(), round_id,
                                             expected_version=expected_version()))
