"""Schemas shared by the resources: command outcomes, attribution fields, version headers."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.http.fields import Moment, Sha256, Text
from domain.evidence import MAX_FILES, MEDIA_TYPES

ETAG_HEADER = {"ETag": {"description": "the aggregate version, for If-Match",
                        "schema": {"type": "string", "pattern": '^"[0-9]+"$'}}}
CREATED_HEADERS = ETAG_HEADER | {"Location": {"description": "where the new resource is read",
                                              "schema": {"type": "string"}}}
IF_MATCH = {"in": "header", "name": "If-Match", "required": False,
            "description": 'the version the command expects, as the ETag of the last read ("3"); '
                           "412 if it is not the current version",
            "schema": {"type": "string"}}
IDEMPOTENCY_KEY = {"in": "header", "name": "Idempotency-Key", "required": False,
                   "description": "a retry with the same key and body returns the first answer",
                   "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                              "pattern": "^[\\x21-\\x7e]+$"}}


class Body(ma.Schema):
    """A request body: unknown fields are refused (422)."""

    class Meta:
        unknown = ma.RAISE


class Occurred(Body):
    occurred_at = Moment(metadata={"description": "business time of the fact; defaults to now"})


class Represented(Body):
    on_behalf_of = ma.fields.UUID(metadata={
        "description": "the organisation an admin or supervisor enters this for (a township "
                       "clerk or first secretary entering data for a village); needs a reason"})
    reason = Text(max_length=2000, multiline=True, metadata={
        "description": "why the fact is entered on another organisation's behalf (代录); "
                       "mandatory with on_behalf_of (422 without it)"})


class OutcomeSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    state = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    position = ma.fields.Integer(allow_none=True, metadata={
        "description": "log position of the last event written (read-your-writes on reports)"})


class Page(ma.Schema):
    """Paging of a list: ``limit`` rows after ``cursor`` (the ``next_cursor`` of the last page)."""

    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.String(validate=ma.validate.Length(max=200))


class EvidenceSchema(ma.Schema):
    """A stored file as a record names it (``GET /api/v1/evidence/<sha256>`` has its bytes)."""

    sha256 = ma.fields.String(required=True)
    size = ma.fields.Integer(required=True, metadata={"description": "bytes"})
    media_type = ma.fields.String(required=True, metadata={"enum": list(MEDIA_TYPES)})


def evidence_files(**kwargs: Any) -> ma.fields.List:
    """A command's ``evidence``: the SHA-256 of files uploaded first (``POST /evidence``)."""
    return ma.fields.List(Sha256(), load_default=list, validate=ma.validate.Length(max=MAX_FILES),
                          metadata={"description": "SHA-256 digests of files stored with "
                                                   "POST /api/v1/evidence"}, **kwargs)


def evidence_list(**kwargs: Any) -> ma.fields.List:
    return ma.fields.List(ma.fields.Nested(EvidenceSchema), **kwargs)
