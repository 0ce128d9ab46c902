"""schemathesis against /api/openapi.json: no 5xx, and every answer matches the document."""
from __future__ import annotations

import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import schemathesis
import schemathesis.config
from hypothesis import HealthCheck, settings

from api.http.app import create_app
from api.http.security import FailedSignIns
from api.root import Root
from tests.api_support import WorldTemplates

START = datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc)


def build_app(root: Path):
    engine, app_settings, cast, ids = WorldTemplates(root / "worlds", START).open(
        "activity", root / "var")
    app = create_app(Root(app_settings, engine))
    # schemathesis sends hundreds of wrong tokens from one address on purpose (its auth
    # checks); throttling them is tests/test_trust_http.py's subject, not this document's.
    app.extensions["cobuild.failed_sign_ins"] = FailedSignIns(limit=10**9)
    return app, cast


APP, CAST = build_app(Path(tempfile.mkdtemp(prefix="cobuild-schemathesis-")))
# A schema-valid body may still break a rule of the domain that a JSON Schema cannot state
# (a term that ends before it starts, an agreement dated before the acceptance): 422 is a
# correct answer to it, and so is 412 to a generated If-Match.
ACCEPTED = ["2xx", "401", "403", "404", "409", "412", "422"]
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({
    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
    # An upload's bytes may be no photo or PDF, or too large (which a schema cannot state).
    "operations": [{"include-path": "/api/v1/evidence", "include-method": "POST",
                    "checks": {"positive_data_acceptance": {
                        "expected-statuses": [*ACCEPTED, "413", "415"]}}}],
})
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP, config=CONFIG)


def role_for(path: str, method: str) -> str:
    """The role most likely to get past authorisation, so the engine's rules get exercised."""
    if path.startswith(("/api/v1/organisations", "/api/v1/regions", "/api/v1/users",
                        "/api/v1/rules")):
        return "admin"
    if path.startswith("/api/v1/followups"):
        return "village" if path.endswith("respond") else "supervisor"
    if path.startswith("/api/v1/evaluations"):
        if path.endswith(("ratings", "objections")):
            return "agency"
        if path.endswith(("compute", "resolve")):
            return "evaluator"
        return "supervisor" if path.endswith("satisfaction") else "admin"
    if path.startswith(("/api/v1/reports", "/api/v1/audit")):
        return "evaluator"
    if (path.startswith("/api/v1/tasks") and method == "POST"
            and path.endswith(("tasks", "confirm", "reject", "rate", "cancel"))):
        return "village"
    return "agency"


@schema.auth(refresh_interval=None)
class RoleToken:
    def get(self, case, context):
        return CAST.tokens[role_for(case.path, case.method.upper())]

    def set(self, case, data, context):
        headers = dict(case.headers or {})
        headers["Authorization"] = f"Bearer {data}"
        # hypothesis reuses minimal strings; unrelated requests must not share a key
        if "Idempotency-Key" in headers:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        case.headers = headers


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case):
    case.call_and_validate()
