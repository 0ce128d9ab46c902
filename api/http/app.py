"""The JSON API: ``create_app(root)``, with the parts the composition root (``api.root``) built
(``api.app`` adds the people's pages for the servers).

Every request under ``/api/v1`` is authenticated with a bearer token through the engine;
what the user may then do is decided by the engine's commands and reads, never here.
"""
from __future__ import annotations

import http
import json
import os
import time
from functools import cached_property
from types import FunctionType
from typing import Any, Callable

import flask_swagger_ui
import flask_smorest
from flask import Blueprint as FlaskBlueprint
from flask import Flask, Response, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from api.http import (
    audit, commitments, evaluations, evidence, followups, history, organisations, pairings, regions,
    reports, rules, tasks, users,
)
from api.http.context import bearer_token, engine, root
from api.http.routes import answers_secret
from api.http.security import FailedSignIns, redact_request_log, security_headers
from api.idempotency import (
    KEPT_HEADERS, KeyInUse, KeyReused, SecretShownOnce, StoredAnswer, fingerprint,
)
from api.http.problems import (
    PROBLEM_JSON, Problem, ProblemSchema, from_domain_error, from_http_exception, from_problem,
    from_unexpected, log, problem_response,
)
from api.root import Root
from domain.errors import DomainError
from workflows.core import Outcome
from workflows.errors import Unauthenticated
from workflows.store.idempotency import CommandKey
from workflows.store.outages import describe, is_outage

MAX_BODY = 64 * 1024  # the largest command body is a few kilobytes of text
BLUEPRINTS = (organisations.blp, regions.blp, users.blp, pairings.blp, commitments.blp, tasks.blp,
              followups.blp, evaluations.blp, rules.blp, evidence.blp, reports.blp, history.blp, audit.blp)
_KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


class CobuildApi(flask_smorest.Api):
    """flask-smorest with RFC 9457 problems as the documented and actual error body."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        self._app.register_error_handler(HTTPException, _unless_outage(from_http_exception))
        self._app.register_error_handler(Problem, from_problem)
        self._app.register_error_handler(DomainError, from_domain_error)
        self._app.register_error_handler(Exception, _unless_outage(from_unexpected))

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


# -- outages: 503 store-unavailable, never a 500 --------------------------------------------
# While the database cannot be read or written (restarting, unreachable, disk full, read-only,
# locked beyond the timeout: ``workflows.store.outages.is_outage`` decides, by type), every
# request answers the same problem: try again after ``Retry-After``, a command with the same
# Idempotency-Key (it may have been written before the store went away).
STORE_UNAVAILABLE = "store-unavailable"
RETRY_AFTER_SECONDS = 5
LOG_OUTAGE_EVERY = 30.0  # seconds: one log line per outage, not one per request
_outage_logged_at = [float("-inf")]


def _unless_outage(handler: Callable[[Any], Response]) -> Callable[[Any], Response]:
    def handle(error: Exception) -> Response:
        # An error in an after-request hook reaches Flask's handlers as InternalServerError,
        # the original error inside it.
        cause = getattr(error, "original_exception", None) or error
        if isinstance(cause, BaseException) and is_outage(cause):
            now = time.monotonic()
            if now - _outage_logged_at[0] >= LOG_OUTAGE_EVERY:
                _outage_logged_at[0] = now
                log.warning("store unavailable, answering 503: %s", describe(cause))
            return problem_response(
                503, STORE_UNAVAILABLE, "the data store is unavailable for a moment; retry "
                "after Retry-After seconds (a command with the same Idempotency-Key)",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return handler(error)

    return handle


class _Flask(Flask):
    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Flask asks ``inspect`` whether every hook and view is a coroutine function, on
        # every request; none is, and the answer for a function never changes.
        sync = self._sync.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if isinstance(func, FunctionType):  # a bound method is a new object each time
                self._sync[func] = sync
        return sync

    @cached_property
    def _sync(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        return {}

    def log_exception(self, exc_info: Any) -> None:
        # An outage met in an after-request hook (the idempotency record) is answered 503
        # by ``_unless_outage``, which logs it once: no traceback per request.
        if exc_info[1] is not None and is_outage(exc_info[1]):
            return
        super().log_exception(exc_info)


def create_app(root: Root) -> Flask:
    """The API over ``root``'s engine, projections and stores; the caller closes ``root``."""
    root.settings.ensure_home()

    app = _Flask("cobuild")
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
    # Wrong bearer tokens are counted per process (bounded memory), per client address.
    app.extensions["cobuild.failed_sign_ins"] = FailedSignIns()
    redact_request_log()

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
    app.after_request(_secure)
    app.teardown_request(_release_idempotency_key)
    return app


API_BLUEPRINTS = frozenset(b.name for b in BLUEPRINTS)


def _is_api_request() -> bool:
    return request.blueprint in API_BLUEPRINTS


def _check_body() -> None:
    if request.method != "POST" or not _is_api_request():
        return
    if request.endpoint == f"{evidence.blp.name}.{evidence.upload_evidence.__name__}":
        evidence.allow_upload_size()  # a file, not JSON: checked by the view
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
    if not _is_api_request():
        return
    token = bearer_token()  # none sent: 401, and nothing guessed
    throttle, client = current_app.extensions["cobuild.failed_sign_ins"], request.remote_addr or "?"
    throttle.check(client)  # 429 while this address keeps sending wrong tokens
    try:
        g.actor = engine().authenticate(token)
    except Unauthenticated:
        throttle.failed(client)
        raise


def _claim_idempotency_key() -> Response | None:
    key = request.headers.get("Idempotency-Key")
    if key is None or request.method != "POST" or not _is_api_request():
        return None
    if not 1 <= len(key) <= 255 or not set(key) <= _KEY_CHARS:
        raise Problem(400, "malformed-idempotency-key",
                      "Idempotency-Key must be 1-255 visible ASCII characters")
    store = root().idempotency
    principal = g.actor.user_id
    print_ = fingerprint(request.method, request.path, request.get_data(cache=True))
    busy: KeyInUse | None = None
    try:
        answer = store.begin(principal, key, print_)
    except KeyReused as reused:
        raise _key_reused(reused) from None
    except SecretShownOnce as shown:
        raise _secret_shown_once(shown) from None
    except KeyInUse as in_use:
        answer, busy = None, in_use
    if answer is not None:
        response = Response(answer.body, status=answer.status, headers=answer.headers)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    # No answer kept: did the command commit anyway (the process died before the answer
    # was kept)?  Its receipt was written with its events (DESIGN §13).
    committed = root().engine.committed_under(principal, key)
    if committed is not None:
        if committed.fingerprint != print_:
            raise _key_reused(KeyReused())
        # The command committed, so only its answer is missing: keep the replayed one
        # (even over a claim left unfinished by a process that died).
        g.idempotency_claim = (principal, key)
        if answers_secret(request.endpoint):
            raise _secret_shown_once(SecretShownOnce())
        g.replayed_outcome = Outcome(committed.id, committed.version, committed.state,
                                     committed.position, committed.details)
        return None
    if busy is not None:
        raise _key_in_use(busy)
    g.idempotency_claim = (principal, key)
    root().engine.expect_key(CommandKey(principal, key, print_))
    return None


def _settle_idempotency_key(response: Response) -> Response:
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        principal, key = claim
        services = root()
        services.engine.expect_key(None)
        store = services.idempotency
        if services.settings.exit_after_commit and 200 <= response.status_code < 300 \
                and not g.get("replayed_outcome"):
            os._exit(86)
        if 200 <= response.status_code < 300 and answers_secret(request.endpoint):
            store.withhold(principal, key, response.status_code)
        elif 200 <= response.status_code < 300:
            headers = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
            store.finish(principal, key, StoredAnswer(response.status_code, headers,
                                                      response.get_data(as_text=True)))
        elif answers_secret(request.endpoint) and response.status_code == 410:
            store.withhold(principal, key, response.status_code)
        else:
            store.release(principal, key)
    return response


def _release_idempotency_key(error: BaseException | None) -> None:
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        root().engine.expect_key(None)
        root().idempotency.release(*claim)


def _secure(response: Response) -> Response:
    if g.get("replayed_outcome") is not None:
        response.headers["Idempotent-Replayed"] = "true"
    return security_headers(response, secret=answers_secret(request.endpoint),
                            docs=not _is_api_request())


def _key_reused(reused: KeyReused) -> Problem:
    return Problem(422, "idempotency-key-reused", str(reused))


def _secret_shown_once(shown: SecretShownOnce) -> Problem:
    return Problem(410, "secret-shown-once", str(shown))


def _key_in_use(in_use: KeyInUse) -> Problem:
    return Problem(409, "idempotency-key-in-use", str(in_use), headers={"Retry-After": "1"})
