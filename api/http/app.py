"""The JSON API: ``create_app(root)``, with the parts the composition root (``api.root``) built
(``api.app`` adds the people's pages for the servers).

Every request under ``/api/v1`` is authenticated with a bearer token through the engine;
what the user may then do is decided by the engine's commands and reads, never here.
"""
from __future__ import annotations

import http
import json
import os
from typing import Any

import flask_swagger_ui
import flask_smorest
from flask import Blueprint as FlaskBlueprint
from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from api.http import audit, commitments, history, organisations, pairings, reports, tasks, users
from api.http.context import bearer_token, engine, root
from api.idempotency import KEPT_HEADERS, KeyInUse, KeyReused, StoredAnswer, fingerprint
from api.http.problems import (
    PROBLEM_JSON, Problem, ProblemSchema, from_domain_error, from_http_exception, from_problem,
    from_unexpected,
)
from api.root import Root
from domain.errors import DomainError

MAX_BODY = 64 * 1024  # the largest command body is a few kilobytes of text
BLUEPRINTS = (organisations.blp, users.blp, pairings.blp, commitments.blp, tasks.blp,
              reports.blp, history.blp, audit.blp)
_KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


class CobuildApi(flask_smorest.Api):
    """flask-smorest with RFC 9457 problems as the documented and actual error body."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        self._app.register_error_handler(HTTPException, from_http_exception)
        self._app.register_error_handler(Problem, from_problem)
        self._app.register_error_handler(DomainError, from_domain_error)
        self._app.register_error_handler(Exception, from_unexpected)

    def _register_responses(self) -> None:
        # Same as flask-smorest's, but the error bodies are documented as problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def create_app(root: Root) -> Flask:
    """The API over ``root``'s engine, projections and stores; the caller closes ``root``."""
    root.settings.ensure_home()

    app = Flask("cobuild")
    app.json = DefaultJSONProvider(app)
    app.json.sort_keys = False  # keep the schemas' field order
    # Chinese as it is (UTF-8), not as \uXXXX escapes: people read these answers too.
    app.json.ensure_ascii = False
    app.config.update(
        API_TITLE="cobuild", API_VERSION="v1", OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api", OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs", OPENAPI_SWAGGER_UI_URL="/api/_assets/swagger-ui/",
        MAX_CONTENT_LENGTH=MAX_BODY,
        API_SPEC_OPTIONS={
            "info": {"description": "结对共建 workflow engine. Errors are application/problem+json "
                                    "(RFC 9457); ETag is the aggregate version; If-Match and "
                                    "Idempotency-Key are honoured on commands."},
            "security": [{"bearerAuth": []}],
        },
    )
    app.extensions["cobuild"] = root.open_all()

    api = CobuildApi(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
    app.register_blueprint(FlaskBlueprint(
        "swagger_assets", __name__,
        static_folder=os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist"),
        static_url_path="/api/_assets/swagger-ui"))

    app.before_request(_check_body)
    app.before_request(_authenticate)
    app.before_request(_claim_idempotency_key)
    app.after_request(_settle_idempotency_key)
    app.teardown_request(_release_idempotency_key)
    return app


API_BLUEPRINTS = frozenset(b.name for b in BLUEPRINTS)


def _is_api_request() -> bool:
    return request.blueprint in API_BLUEPRINTS


def _check_body() -> None:
    if request.method != "POST" or not _is_api_request():
        return
    body = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413
    if not body:
        return
    if not request.is_json:
        raise Problem(415, "unsupported-media-type", "send the body as application/json")
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        # Caught here once so that no parser further in meets a body it chokes on.
        raise Problem(400, "malformed-json", "the request body is not valid JSON") from None


def _authenticate() -> None:
    if _is_api_request():
        g.actor = engine().authenticate(bearer_token())


def _claim_idempotency_key() -> Response | None:
    key = request.headers.get("Idempotency-Key")
    if key is None or request.method != "POST" or not _is_api_request():
        return None
    if not 1 <= len(key) <= 255 or not set(key) <= _KEY_CHARS:
        raise Problem(400, "malformed-idempotency-key",
                      "Idempotency-Key must be 1-255 visible ASCII characters")
    store = root().idempotency
    principal = g.actor.user_id
    try:
        answer = store.begin(principal, key, fingerprint(request.method, request.path,
                                                         request.get_data(cache=True)))
    except KeyReused as reused:
        raise Problem(422, "idempotency-key-reused", str(reused)) from None
    except KeyInUse as in_use:
        raise Problem(409, "idempotency-key-in-use", str(in_use),
                      headers={"Retry-After": "1"}) from None
    if answer is not None:
        response = Response(answer.body, status=answer.status, headers=answer.headers)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    g.idempotency_claim = (principal, key)
    return None


def _settle_idempotency_key(response: Response) -> Response:
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        principal, key = claim
        store = root().idempotency
        if 200 <= response.status_code < 300:
            headers = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
            store.finish(principal, key, StoredAnswer(response.status_code, headers,
                                                      response.get_data(as_text=True)))
        else:
            store.release(principal, key)
    return response


def _release_idempotency_key(error: BaseException | None) -> None:
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        root().idempotency.release(*claim)
