"""/organisations: 党组织 registered by the organisation department."""
from __future__ import annotations

from uuid import UUID

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine, etag, expected_version
from api.http.fields import Amount, Label, Money, Text, one_of, region_field
from api.http.reports import CURSOR, fresh_facts
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Body, Page
from domain import labels
from domain.organisation import KINDS, Organisation
from projections.reports import find_organisations
from workflows.authorisation import REGION_ROLES

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


class Search(Page):
    class Meta:
        unknown = ma.RAISE

    q = Text(max_length=100, metadata={"description": "part of the name or the code",
                                       "example": "石练"})
    kind = one_of(KINDS)
    region = region_field(scope=True, metadata={"description": "a region code prefix"})
    cursor = CURSOR


class Found(ma.Schema):
    id = ma.fields.UUID(required=True)
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    kind_label = Label("kind", labels.ORGANISATION_KINDS)
    region_code = ma.fields.String(required=True)
    region_name = ma.fields.String(metadata={
        "description": "the name of its township, or of its nearest named division above; "
                       "absent when none is named (POST /regions)"})
    weak = ma.fields.Boolean(allow_none=True, metadata={
        "description": "villages, for admins, supervisors and evaluators: whether the latest "
                       "reported collective income is below the weak-village line"})
    income_year = ma.fields.Integer(allow_none=True)
    income_yuan = Money(allow_none=True)


class FoundPage(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(Found), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)


@blp.route("", methods=["GET"])
@blp.arguments(Search, location="query", unknown=ma.RAISE)
@blp.response(200, FoundPage)
def search_organisations(query):
    """Find organisations by part of their name or code (any signed-in user), so that no
    one types an id.  Income details only for the regional roles."""
    rules = engine().current_rules()
    weak_line = rules["weak_village_income_yuan"] if actor().role in REGION_ROLES else None
    return fresh_facts(lambda db: find_organisations(
        db, query.get("q"), query.get("kind"), query.get("region"), query.get("cursor"),
        query["limit"], weak_line))


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
