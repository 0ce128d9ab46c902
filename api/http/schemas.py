"""Schemas shared by the resources: command outcomes, attribution fields, version headers."""
from __future__ import annotations

import marshmallow as ma

from api.http.fields import Moment

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
                       "clerk or first secretary entering data for a village)"})


class OutcomeSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    state = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    position = ma.fields.Integer(allow_none=True, metadata={
        "description": "log position of the last event written (read-your-writes on reports)"})
