"""/regions: the names of divisions (区划), recorded by the organisation department."""
from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine
from api.http.fields import Label, Text, one_of, region_field
from api.http.reports import fresh_facts
from api.http.schemas import CREATED_HEADERS, ETAG_HEADER, IDEMPOTENCY_KEY, Body, OutcomeSchema
from domain import labels
from domain.region import LEVEL_DIGITS, MAX_NAME
from projections.reports import child_regions
from workflows.authorisation import REGION_ROLES, in_region
from workflows.errors import Forbidden

blp = Blueprint("regions", __name__, url_prefix="/api/v1/regions",
                description="Divisions (区划) by name: townships, counties and above")


class NameRegion(Body):
    code = Text(required=True, max_length=12, metadata={
        "description": "统计用区划代码 at its level (2, 4, 6, 9 or 12 digits), or its 12-digit "
                       "form with the trailing zeros", "example": "331123101"})
    name = Text(required=True, max_length=MAX_NAME, metadata={"example": "城关镇"})


class RegionNamed(OutcomeSchema):
    created = ma.fields.Boolean(required=True, metadata={
        "description": "the division had no name before (201)"})
    changed = ma.fields.Boolean(required=True, metadata={
        "description": "an event was recorded (false: it already had this name)"})


class RegionQuery(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    parent = region_field(scope=True, metadata={
        "description": "a region code prefix within your own (default: your region)"})
    level = one_of(tuple(LEVEL_DIGITS), load_default="township",
                   metadata={"description": "which divisions under it"})


class RegionItem(ma.Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    level = one_of(tuple(LEVEL_DIGITS), required=True)
    level_label = Label("level", labels.REGION_LEVELS)


class Regions(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(RegionItem), required=True)


@blp.route("", methods=["POST"])
@blp.arguments(NameRegion)
@blp.response(201, RegionNamed, headers=CREATED_HEADERS)
@blp.alt_response(200, schema=RegionNamed, headers=ETAG_HEADER,
                  description="renamed, or already so named (nothing recorded)")
@blp.doc(summary="Name a division (admin, within its region)", parameters=[IDEMPOTENCY_KEY])
def name_region(body):
    outcome = engine().name_region(actor(), body["code"], body["name"])
    if outcome.details["created"]:
        return created(outcome, f"/regions?parent={body['code']}")
    return done(outcome)


@blp.route("", methods=["GET"])
@blp.arguments(RegionQuery, location="query", unknown=ma.RAISE)
@blp.response(200, Regions)
def list_regions(query):
    """The named divisions of a level under a region (regional roles, within their region)."""
    who = actor()
    if who.role not in REGION_ROLES or who.region_code is None:
        raise Forbidden("regional-roles", "divisions are listed for admin, supervisor and evaluator")
    parent = query.get("parent")
    if parent is None:
        parent = who.region_code
    elif not in_region(who, parent):
        raise Forbidden("region-scope", f"region {parent} is outside your region")
    return fresh_facts(lambda db: {"items": child_regions(db, parent, query["level"])})
