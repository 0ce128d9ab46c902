"""/commitments: 公开承诺 made by one party of a pairing to the other (践诺, 评诺)."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine, etag, expected_version
from api.http.fields import (
    Amount, Flag, Label, LocalDate, LocalTime, Money, Quantity, Sha256, Text, one_of,
)
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Body, Occurred, Represented
from domain import labels
from domain.commitment import CATEGORIES, OUTCOMES, SIDES, PublicCommitment

blp = Blueprint("commitments", __name__, url_prefix="/api/v1/commitments",
                description="Public commitments (公开承诺): made, publicised, fulfilled, confirmed, evaluated")


class MakeCommitment(Occurred, Represented):
    pairing_id = ma.fields.UUID(required=True)
    made_by = one_of(SIDES, required=True)
    category = one_of(CATEGORIES, required=True)
    content = Text(required=True, max_length=2000, multiline=True)
    due_on = LocalDate(required=True)
    quantity = Quantity()
    unit = Text(max_length=20)
    amount_yuan = Amount()


class Publicise(Represented):
    channel = Text(required=True, max_length=200, metadata={"example": "村务公开栏"})
    publicised_on = LocalDate(required=True)


class Progress(Occurred, Represented):
    note = Text(required=True, max_length=2000, multiline=True)
    quantity = Quantity()
    amount_yuan = Amount()


class ClaimFulfilment(Occurred, Represented):
    note = Text(max_length=2000, multiline=True)
    evidence_sha256 = Sha256()


class Confirm(Occurred, Represented):
    """The beneficiary confirms; takes only the time and representation."""


class Dispute(Occurred, Represented):
    reason = Text(required=True, max_length=2000, multiline=True)


class Abandon(Dispute):
    explained_to_public = Flag(load_default=False)


class Extend(Represented):
    new_due_on = LocalDate(required=True)
    reason = Text(required=True, max_length=2000, multiline=True)


class Evaluate(Body):
    outcome = one_of(OUTCOMES, required=True)
    reason = Text(max_length=2000, multiline=True)


class CommitmentSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    version = ma.fields.Integer(required=True)
    state = ma.fields.String(required=True)
    state_label = Label("state", labels.COMMITMENT_STATES)
    pairing_id = ma.fields.UUID(required=True)
    giver_id = ma.fields.UUID(required=True)
    receiver_id = ma.fields.UUID(required=True)
    made_by = ma.fields.String(required=True)
    made_by_label = Label("made_by", labels.SIDES)
    category = ma.fields.String(required=True)
    category_label = Label("category", labels.COMMITMENT_CATEGORIES)
    content = ma.fields.String(required=True)
    quantity = ma.fields.Decimal(as_string=True, allow_none=True)
    unit = ma.fields.String(allow_none=True)
    amount_yuan = Money(allow_none=True)
    due_on = ma.fields.Date(required=True)
    original_due_on = ma.fields.Date(required=True)
    publicised_on = ma.fields.Date(allow_none=True)
    publicity_channel = ma.fields.String(allow_none=True)
    achieved_quantity = ma.fields.Decimal(as_string=True, allow_none=True)
    achieved_amount_yuan = Money(allow_none=True)
    claimed_at = LocalTime(allow_none=True)
    fulfilled_at = LocalTime(allow_none=True)
    abandon_reason = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    outcome_label = Label("outcome", labels.OUTCOMES)


def commitment_body(c: PublicCommitment) -> dict[str, Any]:
    # Labels (``attribute`` set) are read from the code they name.
    return {name: getattr(c, name) for name, f in CommitmentSchema().fields.items()
            if f.attribute is None}


@command(blp, "", MakeCommitment, "Make a commitment (the maker side of an in-force pairing)",
         status=201)
def make_commitment(body):
    outcome = engine().make_commitment(actor(), **body)
    return created(outcome, f"/commitments/{outcome.id}")


@blp.route("/<uuid:commitment_id>", methods=["GET"])
@blp.response(200, CommitmentSchema, headers=ETAG_HEADER)
def read_commitment(commitment_id: UUID):
    """Read a commitment."""
    commitment = engine().read(actor(), PublicCommitment, commitment_id)
    return commitment_body(commitment), 200, etag(commitment.version)



@command(blp, "/<uuid:commitment_id>/publicise", Publicise, "Publicise a draft commitment (maker)")
def publicise_commitment(body, commitment_id: UUID):
    return done(engine().publicise_commitment(actor(), commitment_id, **body,
                                              expected_version=expected_version()))


@command(blp, "/<uuid:commitment_id>/progress", Progress, "Report progress (maker)")
def report_progress(body, commitment_id: UUID):
    return done(engine().report_commitment_progress(actor(), commitment_id, **body,
                                                    expected_version=expected_version()))


@command(blp, "/<uuid:commitment_id>/extend", Extend,
         "Extend the due date with a reason (maker); the original date stays on record")
def extend_deadline(body, commitment_id: UUID):
    return done(engine().extend_commitment_deadline(actor(), commitment_id, **body,
                                                    expected_version=expected_version()))


@command(blp, "/<uuid:commitment_id>/claim-fulfilment", ClaimFulfilment, "Claim fulfilment (maker)")
def claim_fulfilment(body, commitment_id: UUID):
    return done(engine().claim_fulfilment(actor(), commitment_id, **body,
                                          expected_version=expected_version()))


@command(blp, "/<uuid:commitment_id>/confirm", Confirm,
         "Confirm fulfilment (the beneficiary; never the maker)")
def confirm_fulfilment(body, commitment_id: UUID):
    return done(engine().confirm_fulfilment(actor(), commitment_id, **body,
                                            expected_version=expected_version()))


@command(blp, "/<uuid:commitment_id>/dispute", Dispute, "Dispute a claimed fulfilment (beneficiary)")
def dispute_fulfilment(body, commitment_id: UUID):
    return done(engine().dispute_fulfilment(actor(), commitment_id, **body,
                                            expected_version=expected_version()))


@command(blp, "/<uuid:commitment_id>/abandon", Abandon, "Abandon a commitment with a reason (maker)")
def abandon_commitment(body, commitment_id: UUID):
    return done(engine().abandon_commitment(actor(), commitment_id, **body,
                                            expected_version=expected_version()))


@command(blp, "/<uuid:commitment_id>/evaluate", Evaluate,
         "Evaluate a fulfilled or abandoned commitment (评诺: admin, supervisor)")
def evaluate_commitment(body, commitment_id: UUID):
    return done(engine().evaluate_commitment(actor(), commitment_id, **body,
                                             expected_version=expected_version()))
