"""The attack suite (issue #16; DESIGN §13 "Least disclosure"): every endpoint that names a
record, by every role of one county, aimed at the records of another county.

The endpoints are read from the application's own URL map, so an endpoint added later is
attacked without editing this file; a path parameter it does not know how to fill fails the
suite until a foreign record of that kind is added to ``FOREIGN`` below.  Request bodies are
built from the OpenAPI document (the required fields, with plausible values naming the
foreign records), so the request reaches the engine's authorisation rather than stopping at
the schema.

Each answer must be a refusal (403 or 404) that names nothing of the record: no version,
no ETag, no state, none of its names, titles or content, even with a stale ``If-Match``.
And nothing is written.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from api.http.app import create_app
from api.root import Root
from domain.base import SYSTEM
from tests.api_support import API_START, JsonClient, TokenCast
from workflows.engine import open_engine
from workflows.store.clock import FakeClock
from workflows.store.settings import Settings

pytestmark = pytest.mark.attack

V = "/api/v1"
FOREIGN_COUNTY = "331124"  # 松阳县: no role of the cast (遂昌县 331123, 杭州 330100) covers it
NAMES = {
    "giver": "松阳县农业农村局机关党委", "village": "新兴镇大东坝村党支部",
    "activity": "联合主题党日：松阳茶园党课", "commitment": "资助大东坝村茶叶加工厂改造 8 万元",
    "task": "修缮大东坝村老年活动中心屋顶", "user": "松阳村支书",
}
ATTACKERS = ("admin_county", "supervisor", "agency", "agency2", "village", "village2",
             "evaluator", "outsider")


@dataclass
class Foreign:
    """Records of another county, and what they must never disclose."""

    ids: dict[str, str]
    secrets: tuple[str, ...]


@pytest.fixture(scope="module")
def attack(tmp_path_factory):
    home = tmp_path_factory.mktemp("attack") / "var"
    engine = open_engine(Settings(home=home), FakeClock(API_START))
    cast = TokenCast.create(engine)
    admin = cast.actors["admin"]
    giver = engine.register_organisation(admin, "SY-G1", NAMES["giver"], "agency",
                                         f"{FOREIGN_COUNTY}000000").id
    village = engine.register_organisation(admin, "SY-V1", NAMES["village"], "village",
                                           f"{FOREIGN_COUNTY}102201").id
    user, village_token = engine.register_user(admin, NAMES["user"], "village", village)
    clerk, clerk_token = engine.register_user(admin, "松阳乡镇组织委员", "supervisor", None,
                                              f"{FOREIGN_COUNTY}102")
    agency_user, agency_token = engine.register_user(admin, "松阳机关书记", "agency", giver)
    their_village, their_agency = engine.authenticate(village_token), engine.authenticate(agency_token)
    pairing = engine.propose_pairing(their_agency, giver, village, date(2025, 1, 1),
                                     date(2027, 12, 31)).id
    engine.accept_pairing(their_village, pairing)
    engine.sign_agreement(their_agency, pairing, engine.today())
    engine.sign_agreement(their_village, pairing, engine.today())
    activity = engine.record_activity(their_agency, pairing, "joint_org_life", NAMES["activity"],
                                      engine.clock.now()).details["activity_id"]
    commitment = engine.make_commitment(their_agency, pairing, "giver", "funds",
                                        NAMES["commitment"], date(2025, 12, 31),
                                        amount_yuan=Decimal("80000")).id
    engine.publicise_commitment(their_agency, commitment, "村务公开栏", engine.today())
    task = engine.raise_need(their_village, village, "infrastructure", NAMES["task"]).id
    followup = engine.open_followup(admin, "pairing", pairing, village, "台账记录不全，请补充").id
    evaluation = engine.open_evaluation(admin, 2025, FOREIGN_COUNTY).id
    _, county_admin_token = engine.register_user(admin, "遂昌县委组织部", "admin", None, "331123")
    cast.tokens["admin_county"] = county_admin_token
    foreign = Foreign(
        ids={"pairing": str(pairing), "activity": activity, "commitment": str(commitment),
             "task": str(task), "organisation": str(village), "giver": str(giver),
             "user": str(user.id), "clerk": str(clerk.id), "followup": str(followup),
             "evaluation": str(evaluation), "objection": "objection-1"},
        secrets=tuple(NAMES.values()) + ("SY-G1", "SY-V1", FOREIGN_COUNTY),
    )
    app = create_app(Root(Settings(home=home), engine))
    yield engine, cast, foreign, JsonClient(app.test_client()), app
    engine.close()


# -- the endpoints, from the URL map ---------------------------------------------------------

# A path parameter -> the foreign record it names (by the parameter's name).
FOREIGN = (
    ("activity", "activity"), ("pairing", "pairing"), ("commitment", "commitment"),
    ("task", "task"), ("organisation", "organisation"), ("user", "user"),
    ("followup", "followup"), ("case", "followup"), ("round", "evaluation"),
    ("evaluation", "evaluation"), ("objection", "objection"),
)
# `/audit/<resource>/<aggregate_id>/...`: each resource with a foreign record of its kind.
AUDITED = {"pairings": "pairing", "commitments": "commitment", "tasks": "task",
           "organisations": "organisation"}


def fill(rule: str, foreign: Foreign) -> list[str]:
    """The rule's paths with every parameter naming a foreign record."""
    paths = [rule]
    if "<resource>" in rule:
        paths = [rule.replace("<resource>", r).replace("<uuid:aggregate_id>", foreign.ids[k])
                 for r, k in AUDITED.items()]
    filled = []
    for path in paths:
        for param in re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", path):
            kind = next((k for word, k in FOREIGN if word in param), None)
            assert kind is not None, (
                f"{rule}: no foreign record for <{param}>; add one to tests/test_attack.py")
            path = re.sub(rf"<(?:[a-z]+:)?{param}>", foreign.ids[kind], path)
        filled.append(path)
    return filled


def endpoints(app) -> list[tuple[str, str, str]]:
    """(method, rule, path) of every API endpoint that names a record in its path."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(V) or "<" not in rule.rule:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return found


# -- bodies from the OpenAPI document ----------------------------------------------------------

def request_schema(spec: dict, rule: str, method: str) -> dict | None:
    path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
    operation = spec["paths"].get(path, {}).get(method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    return content.get("application/json", {}).get("schema")


def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def example(spec: dict, schema: dict, name: str, foreign: Foreign) -> Any:
    schema = resolve(spec, schema)
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    form = schema.get("format")
    if form == "uuid":
        return foreign.ids["giver" if "giver" in name else "pairing" if "pairing" in name
                           else "commitment" if "subject" in name else "organisation"]
    if form == "date":
        return "2025-03-01"
    if form == "date-time":
        return API_START.isoformat()
    if kind == "object" or "properties" in schema:
        return {field: example(spec, sub, field, foreign)
                for field, sub in schema.get("properties", {}).items()
                if field in schema.get("required", [])}
    if kind == "array":
        return [example(spec, schema.get("items", {}), name, foreign)] if schema.get("minItems") else []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if "sha256" in name:
        return "ab" * 32
    if "yuan" in name or "amount" in name or "quantity" in name:
        return "1.00"
    return "走访"


# -- the attack ---------------------------------------------------------------------------------

def disclosures(answer, foreign: Foreign) -> list[str]:
    text = answer.content.decode("utf-8", "replace")
    found = [s for s in foreign.secrets if s in text]
    if answer.header("ETag"):
        found.append("ETag")
    body = answer.json if answer.content_type.endswith("json") and answer.content else {}
    for where in (body, (body or {}).get("details") or {}):
        found += [k for k in ("version", "state", "current_etag", "position") if k in where]
    return found


@pytest.mark.parametrize("role", ATTACKERS)
def test_every_endpoint_refuses_a_foreign_record_before_disclosing_it(attack, role):
    engine, cast, foreign, http, app = attack
    spec = http.get("/api/openapi.json").expect(200)
    before = engine.recorder.max_notification_id()
    failures, reached = [], 0
    for method, rule in endpoints(app):
        schema = request_schema(spec, rule, method) if method == "POST" else None
        body = example(spec, schema, "", foreign) if schema else ({} if method == "POST" else None)
        for path in fill(rule, foreign):
            # A stale If-Match too: the version check must come after the scope check.
            headers = {"If-Match": '"999"'} if method == "POST" else {}
            answer = http.request(method, path, cast.tokens[role], json=body, headers=headers)
            leaked = disclosures(answer, foreign)
            if answer.status not in (403, 404) or leaked:
                failures.append(f"{role} {method} {path} -> {answer.status} {leaked} "
                                f"{answer.content[:200]!r}")
            reached += 1
    assert not failures, "\n".join(failures)
    assert reached >= 40
    assert engine.recorder.max_notification_id() == before


def test_the_suite_knows_every_record_kind_the_api_names(attack):
    """A new endpoint naming a kind of record the suite cannot fill fails here first."""
    _, _, foreign, _, app = attack
    for _, rule in endpoints(app):
        assert fill(rule, foreign)


def test_the_foreign_records_are_real_and_readable_by_their_own(attack):
    """The refusals above are about scope, not about missing records."""
    engine, cast, foreign, http, _ = attack
    assert http.get(f"{V}/pairings/{foreign.ids['pairing']}", cast.tokens["admin"]).expect(200)
    assert json.dumps(http.get(f"{V}/tasks/{foreign.ids['task']}", cast.tokens["admin"]).json,
                      ensure_ascii=False).count(NAMES["task"]) == 1
    assert SYSTEM.role == "system"
