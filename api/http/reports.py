"""/reports: the reports of docs/domain.md (Reports) over HTTP, scoped to what the caller may see.

Scope (docs/domain.md, Users and roles; ``workflows.authorisation``): an agency or village user
sees the rows of its own organisation; an admin, supervisor or evaluator sees its region
subtree (``region`` defaults to it and may only narrow it).  Coverage is a regional report
and answers only the regional roles.

Read-your-writes: before answering, a report brings the projections up to the event log's
head as it was when the request arrived, so everything recorded before the request (by
this client or any other) is in the answer; ``position`` says up to where.  The embedded
server also follows the log in the background, so this catch-up is usually already done.

Paging is by keyset: ``next_cursor`` goes back in as ``cursor``.  ``format=csv|xlsx``
answers the same rows as a file with Chinese headers (``projections.export``); an export
page holds up to 10 000 rows by default and ``X-Next-Cursor`` names the next one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

import marshmallow as ma
from flask import Response, jsonify
from flask_smorest import Blueprint

from api.http.context import actor, engine, root
from api.http.fields import KnownAt, LocalDate, one_of, region_field
from api.http.problems import Problem
from domain.base import Actor
from domain.pairing_rules import STATUSES
from projections import export, rows
from projections.queries import Query
from projections.reports import ReportError, Window
from workflows.authorisation import REGION_ROLES, in_region, may_see, require_role
from workflows.errors import Forbidden

blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports",
                description="Reports (status board, ledgers, coverage, evaluation, inbox) as of a date")

PAGE_DEFAULT = 50
PAGE_MAX = 1000
EXPORT_DEFAULT = 10_000
EXPORT_MAX = 50_000
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A cursor is "<receiver region>|<id>" as the projections hand it out.
_CURSOR = re.compile(r"^[0-9]{0,12}\|[0-9a-f-]{36}$")


# -- query parameters -----------------------------------------------------------------------

class ReportQuery(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    as_of = LocalDate(metadata={"description": "the business date the report describes "
                                               "(default: today, Asia/Shanghai)"})
    known_at = KnownAt()
    region = region_field(scope=True, metadata={
        "description": "a region code prefix within your own region (default: your region)"})
    organisation = ma.fields.UUID(metadata={
        "description": "only rows of this organisation (agency and village users: their own)"})
    format = one_of(("json", "csv", "xlsx"), load_default="json",
                    metadata={"description": "csv and xlsx answer a file with Chinese headers"})


class PagedQuery(ReportQuery):
    limit = ma.fields.Integer(validate=ma.validate.Range(min=1, max=EXPORT_MAX), metadata={
        "description": f"rows per page: JSON up to {PAGE_MAX} (default {PAGE_DEFAULT}), "
                       f"exports up to {EXPORT_MAX} (default {EXPORT_DEFAULT})"})
    cursor = ma.fields.String(validate=ma.validate.Regexp(
        _CURSOR, error="is not a cursor this report handed out"),
        metadata={"description": "next_cursor of the previous page"})

    @ma.validates_schema
    def _page_size(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("format", "json") == "json" and data.get("limit", 0) > PAGE_MAX:
            raise ma.ValidationError(f"at most {PAGE_MAX} rows per JSON page", "limit")


class BoardQuery(PagedQuery):
    status = one_of(STATUSES, metadata={"description": "only this derived status"})


class EvaluationQuery(PagedQuery):
    year = ma.fields.Integer(validate=ma.validate.Range(min=2000, max=2100),
                             metadata={"description": "default: the year of as_of, or this year"})


# -- answers ------------------------------------------------------------------------------------

def day(**kwargs: Any) -> ma.fields.String:
    kwargs.setdefault("allow_none", True)
    kwargs["metadata"] = {"format": "date", "example": "2025-12-31", **kwargs.get("metadata", {})}
    return ma.fields.String(**kwargs)


def text(**kwargs: Any) -> ma.fields.String:
    return ma.fields.String(allow_none=True, **kwargs)


class Answered(ma.Schema):
    as_of = day(required=True, allow_none=False)
    known_at = text(required=True, metadata={"description": "the recorded-time bound, if any"})
    position = ma.fields.Integer(required=True, metadata={
        "description": "the report includes every event up to this log position"})


class Paged(Answered):
    next_cursor = text(required=True, metadata={"description": "pass as cursor for the next page"})


def _with(make: Callable[..., ma.fields.Field], **extra: Any) -> Callable[..., ma.fields.Field]:
    """A field maker that adds ``extra`` to the field's OpenAPI metadata."""
    def field(metadata: dict[str, Any], **kwargs: Any) -> ma.fields.Field:
        return make(metadata={**extra, **metadata}, **kwargs)
    return field


KIND_FIELDS: dict[str, Callable[..., ma.fields.Field]] = {
    rows.TEXT: ma.fields.String, rows.CODE: ma.fields.String, rows.REGION: ma.fields.String,
    rows.ID: ma.fields.String, rows.INT: ma.fields.Integer, rows.BOOL: ma.fields.Boolean,
    rows.SHARE: ma.fields.Float, rows.POINTS: ma.fields.Float,
    rows.DATE: _with(ma.fields.String, format="date", example="2025-12-31"),
    rows.AMOUNT: _with(ma.fields.String, format="decimal", example="50000.00",
                       description="yuan, a decimal string with two decimals"),
    rows.QUANTITY: _with(ma.fields.String, format="decimal", example="12.5"),
    rows.MAPPING: lambda **kw: ma.fields.Dict(keys=ma.fields.String(), **kw),
    rows.COUNTS: lambda **kw: ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                                             **kw),
}


_SCHEMAS: dict[type[rows.Row], type[ma.Schema]] = {}


def schema_of(row: type[rows.Row]) -> type[ma.Schema]:
    """The OpenAPI schema of a report row, derived from its declaration (``projections.rows``):
    every field, and ``*_label`` beside each code with the codes and their names; one per row
    (the spec names each schema once)."""
    if row not in _SCHEMAS:
        _SCHEMAS[row] = _derive_schema(row)
    return _SCHEMAS[row]


def _derive_schema(row: type[rows.Row]) -> type[ma.Schema]:
    declared: dict[str, ma.fields.Field] = {}
    for c in row.columns:
        metadata: dict[str, Any] = {}
        if c.description:
            metadata["description"] = c.description
        if c.header:
            metadata["x-column"] = c.header
        if c.labels is not None:
            metadata["x-labels"] = dict(c.labels)
            if c.kind == rows.CODE:
                metadata["enum"] = [*c.labels, *([None] if c.nullable else [])]
        made: ma.fields.Field
        if c.kind == rows.LIST and c.nested is not None:
            made = ma.fields.List(ma.fields.Nested(schema_of(c.nested)), required=True,
                                  metadata=metadata)
        else:
            made = KIND_FIELDS[c.kind](required=True, allow_none=c.nullable, metadata=metadata)
        declared[c.name] = made
        if c.label_key:
            declared[c.label_key] = ma.fields.String(
                required=True, allow_none=c.nullable,
                metadata={"description": f"the Chinese name of {c.name}"})
    return ma.Schema.from_dict(declared, name=row.__name__)


class Board(Paged):
    items = ma.fields.List(ma.fields.Nested(schema_of(rows.BoardItem)), required=True)
    rule_set_version = ma.fields.String(required=True)


class Commitments(Paged):
    items = ma.fields.List(ma.fields.Nested(schema_of(rows.CommitmentItem)), required=True)


class Tasks(Paged):
    items = ma.fields.List(ma.fields.Nested(schema_of(rows.TaskItem)), required=True)


class Coverage(Paged):
    items = ma.fields.List(ma.fields.Nested(schema_of(rows.CoverageRow)), required=True,
                           metadata={"description": "one row per region one level down"})
    totals = ma.fields.Nested(schema_of(rows.CoverageRow), required=True)
    weak_without_pairing = ma.fields.List(ma.fields.Nested(schema_of(rows.WeakVillage)),
                                          required=True)
    agencies_without_village = ma.fields.List(ma.fields.Nested(schema_of(rows.OrganisationRow)),
                                              required=True)
    region = ma.fields.String(required=True)
    rule_set_version = ma.fields.String(required=True)
    weak_income_yuan = ma.fields.String(required=True)


class FollowUps(Paged):
    items = ma.fields.List(ma.fields.Nested(schema_of(rows.FollowUpItem)), required=True)
    by_region = ma.fields.List(ma.fields.Nested(schema_of(rows.FollowUpRegion)), required=True)
    totals = ma.fields.Nested(schema_of(rows.FollowUpRegion), required=True)
    region = ma.fields.String(required=True)


class Evaluation(Paged):
    items = ma.fields.List(ma.fields.Nested(schema_of(rows.PairingScore)), required=True)
    organisations = ma.fields.List(ma.fields.Nested(schema_of(rows.OrganisationScore)),
                                   required=True, metadata={
        "description": "each organisation's mean over its pairings in scope (every page), "
                       "listed by name: never a ranking"})
    year = ma.fields.Integer(required=True)
    rule_set_version = ma.fields.String(required=True)


class Inbox(Paged):
    items = ma.fields.List(ma.fields.Nested(schema_of(rows.InboxItem)), required=True)
    organisation_id = ma.fields.String(required=True)


# -- scope, freshness, answers ---------------------------------------------------------------

@dataclass(frozen=True)
class Asked:
    """One report request, scoped and resolved: the query, and how to answer it."""

    query: Query
    format: str
    position: int


def scope(who: Actor, region: str | None, organisation: str | None) -> tuple[str | None, str | None]:
    """The rows ``who`` may see, as a region prefix and an organisation filter."""
    if who.role in REGION_ROLES:
        if who.region_code is None:
            raise Forbidden("region-scope", f"this {who.role} account has no region")
        if region is None:
            region = who.region_code
        elif not in_region(who, region):
            raise Forbidden("region-scope", f"region {region} is outside your region "
                            f"{who.region_code or '(all)'}")
        return region or None, organisation
    if who.role in ("agency", "village"):
        own = str(who.organisation_id)
        if organisation is not None and organisation != own:
            raise Forbidden("own-organisation", "you see the reports of your own organisation only")
        return region or None, own
    raise Forbidden("report-role", f"the {who.role} role reads no reports")


def ask(query: dict[str, Any], default_as_of: date | None = None,
        paged: bool = True) -> Asked:
    """The request as a :class:`Query` within the caller's scope, with the projections
    brought up to the log's head as it was when the request arrived (read-your-writes)."""
    organisation = query.get("organisation")
    region, organisation = scope(actor(), query.get("region"),
                                 str(organisation) if organisation else None)
    fmt = query["format"]
    limit = query.get("limit") or (PAGE_DEFAULT if fmt == "json" else EXPORT_DEFAULT)
    reports = root().reports
    position = reports.caught_up()
    return Asked(Query(
        window=Window(query.get("as_of") or default_as_of or engine().today(), query.get("known_at")),
        rules=reports.rules(), region=region, organisation=organisation,
        status=query.get("status"), year=query.get("year"), cursor=query.get("cursor"),
        limit=limit if paged else None), format=fmt, position=position)


def answer(name: str, asked: Asked) -> Any:
    try:
        result = root().reports.run(name, asked.query)
    except ReportError as error:
        raise Problem(422, "invalid-fields", str(error), errors={"query": [str(error)]}) from None
    result = {**result, "position": asked.position}
    result.setdefault("next_cursor", None)
    if asked.format == "json":
        # The rows are plain JSON values already; dumping them through the schema again
        # would double the cost of a page.  The schema documents them, and
        # tests/test_api_reports.py holds the two to the same fields.
        return jsonify(result)
    stem = f"{name}-{asked.query.window.day}"
    if asked.format == "csv":
        response = Response(export.to_csv(name, result), mimetype=CSV)
    else:
        response = Response(export.to_xlsx(name, result, scope=file_scope(asked)),
                            mimetype=XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}.{asked.format}"'
    if result["next_cursor"]:
        response.headers["X-Next-Cursor"] = result["next_cursor"]
    return response


def file_scope(asked: Asked) -> str:
    """Whose rows a file holds, for its title row."""
    q = asked.query
    if q.organisation:
        return root().reports.organisation_name(q.organisation)
    return f"区域 {q.region}" if q.region else "全部"


FILE_HEADERS = {"X-Next-Cursor": {"description": "when more rows remain: the cursor of the next file",
                                  "schema": {"type": "string"}}}


def report(rule: str, query: type[ma.Schema], schema: type[ma.Schema], summary: str,
           ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``GET <rule>``: JSON by default, or the same rows as CSV or XLSX."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        decorated = blp.arguments(query, location="query", unknown=ma.RAISE)(view)
        decorated = blp.response(200, schema, description=summary)(decorated)
        for content_type in (CSV, XLSX):
            decorated = blp.alt_response(
                200, schema={"type": "string", "format": "binary"}, content_type=content_type,
                description="the same rows as a file with Chinese headers (format=csv|xlsx)",
                headers=FILE_HEADERS, success=True)(decorated)
        decorated = blp.doc(summary=summary)(decorated)
        blp.route(rule, methods=["GET"], endpoint=view.__name__)(decorated)
        return view

    return register


# -- the reports --------------------------------------------------------------------------------

@report("/pairings", BoardQuery, Board, "Pairing status board (结对状态)")
def pairings(query: dict[str, Any]) -> Any:
    """Every pairing in scope with its derived status, last co-signed activity, counts of
    commitments and tasks by state, and the rules it hits as of ``as_of``."""
    return answer("pairings", ask(query))


@report("/inactive", PagedQuery, Board, "Paired but inactive (联而不动预警)")
def inactive(query: dict[str, Any]) -> Any:
    """Pairings with a rule hit that asks for follow-up (R1–R5, R9; not R6's notes)."""
    return answer("inactive", ask(query))


@report("/commitments", PagedQuery, Commitments, "Commitment ledger (承诺台账)")
def commitments(query: dict[str, Any]) -> Any:
    """Every public commitment in scope with its state, dates, parties and amounts."""
    return answer("commitments", ask(query))


@report("/tasks", PagedQuery, Tasks, "Task pipeline (项目清单)")
def tasks(query: dict[str, Any]) -> Any:
    """Every need and service task in scope, from raised to confirmed and rated."""
    return answer("tasks", ask(query))


@report("/coverage", ReportQuery, Coverage, "Coverage of villages and weak villages (覆盖情况)")
def coverage(query: dict[str, Any]) -> Any:
    """Villages, weak villages and giving organisations per region one level down, and who
    has no pairing in force.  For admins, supervisors and evaluators; one page."""
    require_role(actor(), "regional-report", *REGION_ROLES)
    return answer("coverage", ask(query, paged=False))


@report("/followups", PagedQuery, FollowUps, "Open follow-up cases by region and age (督办)")
def followups(query: dict[str, Any]) -> Any:
    """Follow-up cases open at the end of ``as_of``, by the responsible organisation's region
    and age.  For admins, supervisors and evaluators."""
    require_role(actor(), "regional-report", *REGION_ROLES)
    return answer("followups", ask(query))


@report("/evaluation", EvaluationQuery, Evaluation, "Annual evaluation (结对考评)")
def evaluation(query: dict[str, Any]) -> Any:
    """五好 points per pairing for a year, from confirmed facts only; ``as_of`` defaults to
    the year's last day.  Each page lists the pairings; ``organisations`` is the summary of
    the whole scope."""
    year = query.get("year") or (query.get("as_of") or engine().today()).year
    return answer("evaluation", ask({**query, "year": year}, default_as_of=date(year, 12, 31)))


@report("/inbox", ReportQuery, Inbox, "What waits on one organisation (待办)")
def inbox(query: dict[str, Any]) -> Any:
    """Answers only this organisation can give: accept a pairing, sign the agreement,
    co-sign an activity, confirm a fulfilment or a delivery.  Agency and village users get
    their own; a regional user names an ``organisation`` in its region.  One page."""
    who = actor()
    if who.role in REGION_ROLES:
        if query.get("organisation") is None:
            raise Problem(422, "invalid-fields", "name the organisation whose inbox to read",
                          errors={"organisation": ["required for the admin, supervisor and "
                                                   "evaluator roles"]})
        if not may_see(who, engine().organisation_facts(query["organisation"])):
            raise Forbidden("not-in-scope", "this organisation is outside your region")
    return answer("inbox", ask(query, paged=False))
