"""Every error answers ``application/problem+json`` (RFC 9457) with a stable ``type``.

The ``type`` is ``urn:cobuild:problem:<code>``, where ``<code>`` is the refusal's own code
(``wrong-state``, ``stale-version`` ...), so clients switch on it without parsing prose.
The engine decides *whether* something is refused; this module only decides which HTTP
status says so.
"""
from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Mapping

import marshmallow as ma
from flask import Response, json
from werkzeug.exceptions import HTTPException

from domain.errors import DomainError, Duplicate, InvalidValue, NotPermitted, WrongState
from domain.evidence import FileTooLarge, FileTypeRefused
from workflows.errors import (
    ConcurrencyConflict, Forbidden, NotFound, StaleVersion, Unauthenticated,
)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:cobuild:problem:"
log = logging.getLogger("cobuild.api")

# Most specific first: the first class an error is an instance of decides its status.
STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (FileTooLarge, 413),
    (FileTypeRefused, 415),
    (InvalidValue, 422),
    (StaleVersion, 412),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (WrongState, 409),
    (NotPermitted, 409),
    (Duplicate, 409),
    (ConcurrencyConflict, 409),
)

# Names for the problems the HTTP layer itself raises (not refusals of the engine).
HTTP_CODES = {
    400: "malformed-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 406: "not-acceptable", 409: "conflict",
    413: "body-too-large", 414: "uri-too-long", 415: "unsupported-media-type",
    422: "invalid-fields", 428: "precondition-required", 431: "headers-too-large",
}


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, with cobuild's extension members."""

    type = ma.fields.String(required=True, metadata={"description": "urn:cobuild:problem:<code>"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    code = ma.fields.String(metadata={"description": "the stable code, also the end of type"})
    errors = ma.fields.Dict(metadata={"description": "the fields at fault and what is wrong with each"})
    details = ma.fields.Dict(metadata={"description": "facts about the refusal (state, rule ...)"})
    current_etag = ma.fields.String(metadata={"description": "on 412: the version now current"})


class Problem(Exception):
    """A refusal raised by the HTTP layer itself (bad header, bad idempotency key ...)."""

    def __init__(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_response(status: int, code: str, detail: str | None = None,
                     headers: Mapping[str, str] | None = None, **extensions: Any) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": _title(status),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["code"] = code
    body.update({k: v for k, v in extensions.items() if v is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="cobuild"'
    return response


def status_of(error: DomainError) -> int:
    for cls, status in STATUS_OF:
        if isinstance(error, cls):
            return status
    return 409  # any other rule of the domain that forbids the command


def from_domain_error(error: DomainError) -> Response:
    status = status_of(error)
    details = {k: _plain(v) for k, v in error.details.items()}
    extensions: dict[str, Any] = {"details": details or None}
    if isinstance(error, InvalidValue):
        extensions["errors"] = {error.field: [error.message]}
    if isinstance(error, StaleVersion):
        extensions["current_etag"] = f'"{error.details["actual"]}"'
    return problem_response(status, error.code, error.message, **extensions)


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if status == 400 and messages:
        # webargs reports an unparseable body as 400 {"json": ["Invalid JSON body."]}
        return problem_response(400, "malformed-json", "the request body is not valid JSON",
                                headers=headers)
    if status == 422 and messages:
        return problem_response(422, "invalid-fields", "some fields are missing or invalid",
                                headers=headers, errors=_field_errors(messages))
    detail = data.get("message") or error.description
    return problem_response(status, HTTP_CODES.get(status, "http-error"), detail, headers=headers)


def from_problem(problem: Problem) -> Response:
    return problem_response(problem.status, problem.code, problem.detail, problem.headers,
                            **problem.extensions)


def from_unexpected(error: Exception) -> Response:
    log.exception("unexpected error", exc_info=error)
    return problem_response(500, "internal-error", "the server failed; nothing a client sent "
                            "should cause this, please report it")


def _field_errors(messages: Mapping[str, Any]) -> dict[str, Any]:
    """webargs nests errors under the location (``json``, ``query``); clients want fields."""
    merged: dict[str, Any] = {}
    for location, errors in messages.items():
        if isinstance(errors, Mapping):
            merged.update(errors)
        else:
            merged[location] = errors
    return merged


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
