"""What every API view needs from the request: the engine, the acting user, the version
the client expects (``If-Match``), and how a command's outcome is answered."""
from __future__ import annotations

import re
from typing import Any

from flask import current_app, g, request

from domain.base import Actor
from api.http.problems import Problem
from api.root import Root
from workflows.core import Outcome
from workflows.engine import Engine

API_PREFIX = "/api/v1"
_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"')
_VERSION = re.compile(r"^[0-9]{1,18}$")


def root() -> Root:
    """The composition root the app was built with (``create_app``)."""
    return current_app.extensions["cobuild"]


def engine() -> Engine:
    return root().engine


def actor() -> Actor:
    return g.actor


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthenticated", "send Authorization: Bearer <token>")
    return token.strip()


def expected_version() -> int | None:
    """The aggregate version named by ``If-Match``; ``*`` or no header means any version.

    Our entity tags are versions, so a tag that is not a number can never match and the
    precondition fails (412) as it would for a stale version.  Weak tags are taken as
    strong: clients copy ``W/`` prefixes added by proxies.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    versions = {int(tag) for tag in _ENTITY_TAG.findall(header) if _VERSION.match(tag)}
    if len(versions) != 1:
        raise Problem(412, "precondition-failed",
                      'If-Match must name exactly one version, like "3" (the ETag of the last read)')
    return versions.pop()


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def outcome_body(outcome: Outcome) -> dict[str, Any]:
    body: dict[str, Any] = {"id": outcome.id, "state": outcome.state,
                            "version": outcome.version, "position": outcome.position}
    body.update(outcome.details)
    return body


def created(outcome: Outcome, path: str, **extra: Any) -> tuple[dict[str, Any], int, dict[str, str]]:
    body = outcome_body(outcome) | extra
    return body, 201, {**etag(outcome.version), "Location": f"{API_PREFIX}{path}"}


def done(outcome: Outcome) -> tuple[dict[str, Any], int, dict[str, str]]:
    return outcome_body(outcome), 200, etag(outcome.version)
