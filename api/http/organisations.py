"""/organisations: 党组织 registered by the organisation department."""
from __future__ import annotations

from uuid import UUID

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine, etag, expected_version
from api.http.fields import Amount, Label, Money, Text, one_of, region_field
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Body
from domain import labels
from domain.organisation import KINDS, Organisation

blp = Blueprint("organisations", __name__, url_prefix="/api/v1/organisations",
                description="Party organisations (党组织): giving and receiving sides")


class RegisterOrganisation(Body):
    code = Text(required=True, max_length=64, metadata={"example": "G001"})
    name = Text(required=True, max_length=200)
    kind = one_of(KINDS, required=True)
    region_code = region_field(required=True, metadata={"example": "331123101201"})


class ReportIncome(Body):
    year = ma.fields.Integer(required=True, strict=True)
    amount_yuan = Amount(required=True)


class Rename(Body):
    name = Text(required=True, max_length=200)


class Dissolve(Body):
    reason = Text(required=True, max_length=2000, multiline=True)


class OrganisationSchema(ma.Schema):
    id = ma.fields.UUID()
    version = ma.fields.Integer()
    state = ma.fields.String()
    state_label = Label("state", labels.ORGANISATION_STATES)
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.String()
    kind_label = Label("kind", labels.ORGANISATION_KINDS)
    region_code = ma.fields.String()
    collective_income = ma.fields.Dict(keys=ma.fields.String(), values=Money(),
                                       metadata={"description": "yuan per year"})


@command(blp, "", RegisterOrganisation, "Register an organisation (admin)", status=201)
def register_organisation(body):
    outcome = engine().register_organisation(actor(), **body)
    return created(outcome, f"/organisations/{outcome.id}")


@blp.route("/<uuid:organisation_id>")
class OrganisationResource(MethodView):
    @blp.response(200, OrganisationSchema, headers=ETAG_HEADER)
    def get(self, organisation_id: UUID):
        """Read an organisation (its own users, and region roles over it)."""
        org = engine().read(actor(), Organisation, organisation_id)
        body = {"id": org.id, "version": org.version, "state": org.state, "code": org.code,
                "name": org.name, "kind": org.kind, "region_code": org.region_code,
                "collective_income": {str(y): a for y, a in sorted(org.collective_income.items())}}
        return body, 200, etag(org.version)


@command(blp, "/<uuid:organisation_id>/income", ReportIncome, "Report a village's collective income for a year (admin)")
def report_income(body, organisation_id: UUID):
    return done(engine().report_collective_income(
        actor(), organisation_id, body["year"], body["amount_yuan"], expected_version()))


@command(blp, "/<uuid:organisation_id>/rename", Rename, "Rename an organisation (admin)")
def rename(body, organisation_id: UUID):
    return done(engine().rename_organisation(actor(), organisation_id, body["name"],
                                             expected_version()))


@command(blp, "/<uuid:organisation_id>/dissolve", Dissolve, "Dissolve an organisation (admin)")
def dissolve(body, organisation_id: UUID):
    return done(engine().dissolve_organisation(actor(), organisation_id, body["reason"],
                                               expected_version()))
