"""Declaring a command route: body schema, answer schema, version and retry headers."""
from __future__ import annotations

from typing import Any, Callable

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.schemas import CREATED_HEADERS, ETAG_HEADER, IDEMPOTENCY_KEY, IF_MATCH, OutcomeSchema

# Endpoints ("blueprint.view") whose answer carries a secret shown once (a token, an
# activation code): answered with ``Cache-Control: no-store`` and never kept for a retry.
SECRET_ANSWERS: set[str] = set()


def answers_secret(endpoint: str | None) -> bool:
    return endpoint in SECRET_ANSWERS


def command(blp: Blueprint, rule: str, body: type[ma.Schema], summary: str, *,
            status: int = 200, answer: type[ma.Schema] | ma.Schema = OutcomeSchema,
            versioned: bool | None = None,
            secret: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``POST <rule>`` running one engine command; documented from the same schemas.

    ``versioned`` commands honour ``If-Match``: by default those that act on an existing
    aggregate (a rule with a path below the collection); a ``secret`` answer (a token, an
    activation code) is shown once and never stored."""
    headers = CREATED_HEADERS if status == 201 else ETAG_HEADER
    if versioned is None:
        versioned = bool(rule)
    parameters = [IF_MATCH, IDEMPOTENCY_KEY] if versioned else [IDEMPOTENCY_KEY]

    # One instance for every request (webargs builds one per request from a class); a
    # schema keeps no state of a load, so threads share it.
    body_schema = body()
    # A body whose fields are all optional may be left out altogether.
    body_required = any(f.required for f in body_schema.fields.values())

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        decorated = blp.arguments(body_schema, required=body_required)(view)
        decorated = blp.response(status, answer, headers=headers)(decorated)
        decorated = blp.doc(summary=summary, parameters=parameters)(decorated)
        blp.route(rule, methods=["POST"], endpoint=view.__name__)(decorated)
        if secret:
            SECRET_ANSWERS.add(f"{blp.name}.{view.__name__}")
        return view

    return register
