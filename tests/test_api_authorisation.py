"""Every endpoint × every role, and no token, a bad token, a revoked token.

The cast: admin (whole country), a township supervisor over V1 and V2, agency G1 and
village V1 (the parties of the pairing), agency G2 and village V2 (strangers to it), a
county evaluator, and a supervisor of another county (``outsider``).  The HTTP layer holds
no rules: each answer below is the engine's authorisation (403) or a rule of the domain
(409) or success, reached through HTTP.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from projections.history import HistoryReader
from tests.api_support import ROLES, JsonClient, TokenCast, rebind

V = "/api/v1"


@dataclass
class World:
    cast: TokenCast
    ids: dict[str, Any]

    def org(self, code: str) -> str:
        return str(self.cast.orgs[code])


def expect(spec: str) -> dict[str, int]:
    """``"admin=200 agency=403 ..."``; ``*=403`` sets every role not named."""
    table: dict[str, int] = {}
    default = None
    for part in spec.split():
        role, status = part.split("=")
        if role == "*":
            default = int(status)
        else:
            table[role] = int(status)
    for role in ROLES:
        table.setdefault(role, default)
    assert None not in table.values(), spec
    return table


PARTIES_SEE = expect("admin=200 supervisor=200 agency=200 village=200 evaluator=200 *=403")
V1_SEEN = expect("admin=200 supervisor=200 village=200 evaluator=200 *=403")
ADMIN_ONLY = expect("admin=200 *=403")
ADMIN_CREATES = expect("admin=201 *=403")
RECEIVER_ACTS = expect("village=200 agency=409 *=403")
EACH_SIDE = expect("agency=200 village=200 *=403")
DEPARTMENT = expect("admin=200 supervisor=200 *=403")
OTHER_SIDE = expect("village=200 agency=409 *=403")
MAKER_ACTS = expect("agency=200 village=409 *=403")
EVERYONE = expect("*=200")
REGIONAL = expect("admin=200 supervisor=200 evaluator=200 outsider=200 *=403")
AUDITORS_IN_SCOPE = expect("admin=200 supervisor=200 evaluator=200 *=403")


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Callable[[World], str]
    expected: dict[str, int]
    setup: str = "none"
    body: Callable[[World], Any] = lambda w: None


NOW = "2025-03-01T08:30:00+08:00"

ENDPOINTS = [
    Endpoint("read organisation", "GET", lambda w: f"{V}/organisations/{w.org('V1')}", V1_SEEN),
    Endpoint("read user", "GET", lambda w: f"{V}/users/{w.cast.users['village']}", V1_SEEN),
    Endpoint("who am I", "GET", lambda w: f"{V}/users/me", expect("*=200")),
    Endpoint("read pairing", "GET", lambda w: f"{V}/pairings/{w.ids['pairing']}", PARTIES_SEE,
             "in_force"),
    Endpoint("read activity", "GET",
             lambda w: f"{V}/pairings/{w.ids['pairing']}/activities/{w.ids['activity']}",
             PARTIES_SEE, "activity"),
    Endpoint("pairing history", "GET", lambda w: f"{V}/audit/pairings/{w.ids['pairing']}/history",
             PARTIES_SEE, "proposed"),
    Endpoint("organisation history", "GET",
             lambda w: f"{V}/audit/organisations/{w.org('V1')}/history", V1_SEEN),
    Endpoint("register organisation", "POST", lambda w: f"{V}/organisations", ADMIN_CREATES,
             body=lambda w: {"code": "V3", "name": "大柘镇大田村党支部", "kind": "village",
                             "region_code": "331123101203"}),
    Endpoint("report income", "POST", lambda w: f"{V}/organisations/{w.org('V1')}/income",
             ADMIN_ONLY, body=lambda w: {"year": 2024, "amount_yuan": "12000.00"}),
    Endpoint("rename organisation", "POST", lambda w: f"{V}/organisations/{w.org('V1')}/rename",
             ADMIN_ONLY, body=lambda w: {"name": "大柘镇石练村党总支"}),
    Endpoint("dissolve organisation", "POST",
             lambda w: f"{V}/organisations/{w.org('V2')}/dissolve", ADMIN_ONLY,
             body=lambda w: {"reason": "村庄撤并"}),
    Endpoint("name division", "POST", lambda w: f"{V}/regions", ADMIN_CREATES,
             body=lambda w: {"code": "331123101", "name": "大柘镇"}),
    Endpoint("list divisions", "GET", lambda w: f"{V}/regions", REGIONAL),
    Endpoint("register user", "POST", lambda w: f"{V}/users", ADMIN_CREATES,
             body=lambda w: {"name": "张委员", "role": "village", "organisation_id": w.org("V1")}),
    Endpoint("issue token", "POST", lambda w: f"{V}/users/{w.cast.users['village']}/tokens",
             ADMIN_CREATES, body=lambda w: {}),
    Endpoint("revoke token", "POST", lambda w: f"{V}/users/revoke-token",
             expect("admin=200 village=200 *=403"),
             body=lambda w: {"token": w.cast.tokens["village"], "reason": "手机遗失"}),
    Endpoint("propose pairing", "POST", lambda w: f"{V}/pairings",
             expect("admin=201 supervisor=201 agency=201 *=403"),
             body=lambda w: {"giver_id": w.org("G1"), "receiver_id": w.org("V1"),
                             "term_start": "2025-03-01", "term_end": "2027-02-28",
                             "areas": ["organisation", "industry"]}),
    Endpoint("accept pairing", "POST", lambda w: f"{V}/pairings/{w.ids['pairing']}/accept",
             RECEIVER_ACTS, "proposed", body=lambda w: {}),
    Endpoint("decline pairing", "POST", lambda w: f"{V}/pairings/{w.ids['pairing']}/decline",
             RECEIVER_ACTS, "proposed", body=lambda w: {"reason": "已有结对单位"}),
    Endpoint("sign agreement", "POST",
             lambda w: f"{V}/pairings/{w.ids['pairing']}/sign-agreement", EACH_SIDE,
             "accepted", body=lambda w: {"signed_on": "2025-03-01"}),
    Endpoint("suspend pairing", "POST", lambda w: f"{V}/pairings/{w.ids['pairing']}/suspend",
             DEPARTMENT, "in_force", body=lambda w: {"reason": "整改"}),
    Endpoint("resume pairing", "POST", lambda w: f"{V}/pairings/{w.ids['pairing']}/resume",
             DEPARTMENT, "suspended", body=lambda w: {}),
    Endpoint("terminate pairing", "POST",
             lambda w: f"{V}/pairings/{w.ids['pairing']}/terminate", DEPARTMENT,
             "in_force", body=lambda w: {"reason": "单位撤销"}),
    Endpoint("renew pairing", "POST", lambda w: f"{V}/pairings/{w.ids['pairing']}/renew",
             DEPARTMENT, "in_force", body=lambda w: {"term_end": "2028-12-31"}),
    Endpoint("record activity", "POST", lambda w: f"{V}/pairings/{w.ids['pairing']}/activities",
             expect("agency=201 village=201 *=403"), "in_force",
             body=lambda w: {"kind": "joint_org_life", "title": "联合主题党日",
                             "occurred_at": NOW, "participants": {"giver": 8, "receiver": 12}}),
    Endpoint("co-sign activity", "POST",
             lambda w: f"{V}/pairings/{w.ids['pairing']}/activities/{w.ids['activity']}/cosign",
             OTHER_SIDE, "activity", body=lambda w: {}),
    Endpoint("contest activity", "POST",
             lambda w: f"{V}/pairings/{w.ids['pairing']}/activities/{w.ids['activity']}/contest",
             OTHER_SIDE, "activity", body=lambda w: {"reason": "当日未开展"}),
    # commitments: G1 (giver) is the maker, V1 the beneficiary
    Endpoint("make commitment", "POST", lambda w: f"{V}/commitments",
             expect("agency=201 village=409 *=403"), "in_force",
             body=lambda w: {"pairing_id": w.ids["pairing"], "made_by": "giver",
                             "category": "talent", "content": "选派 2 名技术骨干驻村指导",
                             "due_on": "2025-09-30", "quantity": "2", "unit": "人"}),
    Endpoint("read commitment", "GET", lambda w: f"{V}/commitments/{w.ids['commitment']}",
             PARTIES_SEE, "commitment:draft"),
    Endpoint("publicise commitment", "POST",
             lambda w: f"{V}/commitments/{w.ids['commitment']}/publicise", MAKER_ACTS,
             "commitment:draft", body=lambda w: {"channel": "村务公开栏", "publicised_on": "2025-03-01"}),
    Endpoint("report progress", "POST", lambda w: f"{V}/commitments/{w.ids['commitment']}/progress",
             MAKER_ACTS, "commitment:public",
             body=lambda w: {"note": "首批 2 万元已拨付", "amount_yuan": "20000.00"}),
    Endpoint("extend deadline", "POST", lambda w: f"{V}/commitments/{w.ids['commitment']}/extend",
             MAKER_ACTS, "commitment:public",
             body=lambda w: {"new_due_on": "2026-03-31", "reason": "工程因雨季顺延"}),
    Endpoint("claim fulfilment", "POST",
             lambda w: f"{V}/commitments/{w.ids['commitment']}/claim-fulfilment", MAKER_ACTS,
             "commitment:public", body=lambda w: {"note": "资金已全部到位"}),
    Endpoint("confirm fulfilment", "POST",
             lambda w: f"{V}/commitments/{w.ids['commitment']}/confirm", RECEIVER_ACTS,
             "commitment:claimed", body=lambda w: {}),
    Endpoint("dispute fulfilment", "POST",
             lambda w: f"{V}/commitments/{w.ids['commitment']}/dispute", RECEIVER_ACTS,
             "commitment:claimed", body=lambda w: {"reason": "资金尚未到账"}),
    Endpoint("abandon commitment", "POST",
             lambda w: f"{V}/commitments/{w.ids['commitment']}/abandon", MAKER_ACTS,
             "commitment:public", body=lambda w: {"reason": "项目取消", "explained_to_public": True}),
    Endpoint("correct a draft", "POST",
             lambda w: f"{V}/commitments/{w.ids['commitment']}/correct", MAKER_ACTS,
             "commitment:draft", body=lambda w: {"reason": "金额录入有误", "amount_yuan": "5000.00"}),
    Endpoint("discard a draft", "POST",
             lambda w: f"{V}/commitments/{w.ids['commitment']}/discard", MAKER_ACTS,
             "commitment:draft", body=lambda w: {"reason": "重复录入"}),
    Endpoint("evaluate commitment", "POST",
             lambda w: f"{V}/commitments/{w.ids['commitment']}/evaluate", DEPARTMENT,
             "commitment:fulfilled", body=lambda w: {"outcome": "kept"}),
    Endpoint("commitment history", "GET",
             lambda w: f"{V}/audit/commitments/{w.ids['commitment']}/history", PARTIES_SEE,
             "commitment:draft"),
    # tasks: V1 raises, its partner G1 claims and delivers
    Endpoint("raise need", "POST", lambda w: f"{V}/tasks",
             expect("village=201 agency=409 agency2=409 village2=409 *=403"),
             body=lambda w: {"receiver_id": w.org("V1"), "category": "education",
                             "title": "留守儿童暑期课堂", "wanted_by": "2025-07-01"}),
    Endpoint("read task", "GET", lambda w: f"{V}/tasks/{w.ids['task']}", PARTIES_SEE, "task:claimed"),
    # An open need: its village's partner reads and claims it, no other agency does.
    Endpoint("read an open need", "GET", lambda w: f"{V}/tasks/{w.ids['task']}", PARTIES_SEE,
             "task:open"),
    Endpoint("claim task", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/claim",
             # An open need is the receiver's and its partners' (another giver learns nothing).
             expect("agency=200 village=409 *=403"), "task:open",
             body=lambda w: {"giver_id": w.org("G1")}),
    # A pooled need (领办大厅): any giving organisation reads and claims it.
    Endpoint("read a pooled need", "GET", lambda w: f"{V}/tasks/{w.ids['task']}",
             expect("admin=200 supervisor=200 evaluator=200 agency=200 agency2=200 village=200 "
                    "*=403"), "task:pooled"),
    Endpoint("claim a pooled need", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/claim",
             expect("agency2=200 agency=409 village=409 *=403"), "task:pooled",
             body=lambda w: {"giver_id": w.org("G2")}),
    Endpoint("withdraw claim", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/withdraw-claim",
             MAKER_ACTS, "task:claimed", body=lambda w: {"reason": "预算未获批"}),
    Endpoint("plan task", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/plan", MAKER_ACTS,
             "task:claimed", body=lambda w: {"due_on": "2025-06-30", "budget_yuan": "80000.00"}),
    Endpoint("deliver task", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/deliver", MAKER_ACTS,
             "task:planned", body=lambda w: {"delivered_at": "2025-03-01T09:00:00+08:00", "value_yuan": "78000.00"}),
    Endpoint("confirm delivery", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/confirm",
             RECEIVER_ACTS, "task:delivered", body=lambda w: {}),
    Endpoint("reject delivery", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/reject",
             RECEIVER_ACTS, "task:delivered", body=lambda w: {"reason": "屋顶仍漏雨"}),
    Endpoint("rate task", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/rate", RECEIVER_ACTS,
             "task:confirmed", body=lambda w: {"level": "satisfied"}),
    Endpoint("close task", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/close", EACH_SIDE,
             "task:rated", body=lambda w: {}),
    Endpoint("cancel task", "POST", lambda w: f"{V}/tasks/{w.ids['task']}/cancel",
             expect("village=200 agency=409 *=403"),
             "task:open", body=lambda w: {"reason": "需求已由县里统一解决"}),
    Endpoint("task history", "GET", lambda w: f"{V}/audit/tasks/{w.ids['task']}/history",
             PARTIES_SEE, "task:claimed"),
]


# DESIGN §11: follow-up cases, evaluation rounds, the rule set, finding organisations by
# name, and user administration.
ROUND_READERS = expect("admin=200 supervisor=200 evaluator=200 agency=200 village=200 *=403")
SCORES = {"ideology": 90, "mechanism": 85, "teamwork": 88, "results": 80, "response": 92}

ENDPOINTS += [
    Endpoint("open a follow-up case", "POST", lambda w: f"{V}/followups",
             expect("admin=201 supervisor=201 *=403"), "in_force",
             body=lambda w: {"subject_type": "pairing", "subject_id": w.ids["pairing"],
                             "responsible_id": w.org("V1"), "note": "群众反映活动流于形式"}),
    Endpoint("read a follow-up case", "GET", lambda w: f"{V}/followups/{w.ids['followup']}",
             V1_SEEN, "followup"),
    Endpoint("answer a follow-up case", "POST",
             lambda w: f"{V}/followups/{w.ids['followup']}/respond", expect("village=200 *=403"),
             "followup", body=lambda w: {"text": "已召开支委会研究整改，下月开展联合主题党日"}),
    Endpoint("close a follow-up case", "POST",
             lambda w: f"{V}/followups/{w.ids['followup']}/close", DEPARTMENT, "followup",
             body=lambda w: {"resolution": "resolved", "reason": "已整改到位"}),
    Endpoint("open an evaluation round", "POST", lambda w: f"{V}/evaluations", ADMIN_CREATES,
             "in_force", body=lambda w: {"year": 2025, "region_code": "331123"}),
    Endpoint("read an evaluation round", "GET", lambda w: f"{V}/evaluations/{w.ids['round']}",
             ROUND_READERS, "evaluation:computed"),
    Endpoint("rate the other side", "POST", lambda w: f"{V}/evaluations/{w.ids['round']}/ratings",
             EACH_SIDE, "evaluation:open",
             body=lambda w: {"pairing_id": w.ids["pairing"], "scores": SCORES}),
    Endpoint("record satisfaction", "POST",
             lambda w: f"{V}/evaluations/{w.ids['round']}/satisfaction", DEPARTMENT,
             "evaluation:open",
             body=lambda w: {"pairing_id": w.ids["pairing"],
                             "counts": {"satisfied": 30, "basically_satisfied": 10,
                                        "dissatisfied": 2, "unknown": 3}}),
    Endpoint("compute the scores", "POST", lambda w: f"{V}/evaluations/{w.ids['round']}/compute",
             expect("admin=200 evaluator=200 *=403"), "evaluation:open", body=lambda w: {}),
    Endpoint("publicise the result", "POST",
             lambda w: f"{V}/evaluations/{w.ids['round']}/publicise", ADMIN_ONLY,
             "evaluation:computed", body=lambda w: {"days": 7}),
    Endpoint("object to the result", "POST",
             lambda w: f"{V}/evaluations/{w.ids['round']}/objections",
             expect("agency=201 village=201 *=403"), "evaluation:publicised",
             body=lambda w: {"reason": "满意度调查样本过少", "pairing_id": w.ids["pairing"]}),
    Endpoint("rule on an objection", "POST",
             lambda w: f"{V}/evaluations/{w.ids['round']}/objections/{w.ids['objection']}/resolve",
             expect("admin=200 evaluator=200 *=403"), "evaluation:objection",
             body=lambda w: {"resolution": "dismissed", "reason": "调查样本符合规定"}),
    Endpoint("finalise the grades", "POST", lambda w: f"{V}/evaluations/{w.ids['round']}/finalise",
             ADMIN_ONLY, "evaluation:ended", body=lambda w: {}),
    Endpoint("read the rule set", "GET", lambda w: f"{V}/rules", EVERYONE),
    Endpoint("publish a rule set", "POST", lambda w: f"{V}/rules", ADMIN_CREATES,
             body=lambda w: {"r2_inactive_days": 100, "weights": {"mechanism": 10}}),
    Endpoint("find organisations by name", "GET",
             lambda w: f"{V}/organisations?q=%E7%9F%B3%E7%BB%83", EVERYONE),
    Endpoint("list users", "GET", lambda w: f"{V}/users", ADMIN_ONLY),
    Endpoint("list the users of an organisation", "GET",
             lambda w: f"{V}/users?organisation={w.org('V1')}", ADMIN_ONLY),
    Endpoint("deactivate a user", "POST",
             lambda w: f"{V}/users/{w.cast.users['village2']}/deactivate", ADMIN_ONLY,
             body=lambda w: {"reason": "调离岗位"}),
    Endpoint("revoke a user's tokens", "POST",
             lambda w: f"{V}/users/{w.cast.users['village']}/revoke-tokens",
             expect("admin=200 village=200 *=403"), body=lambda w: {"reason": "手机遗失"}),
]


def first_position(w: World, key: str) -> int:
    return min(HistoryReader(w.cast.engine).positions(uuid.UUID(w.ids[key])).values())


# Reports answer every role, each with the rows in its scope (tests/test_api_reports.py
# checks which rows); a filter outside the scope is refused.
ENDPOINTS += [
    *(Endpoint(f"report {name}", "GET", (lambda n: lambda w: f"{V}/reports/{n}")(name), EVERYONE,
               "in_force")
      for name in ("pairings", "inactive", "commitments", "tasks", "evaluation")),
    Endpoint("report as CSV", "GET", lambda w: f"{V}/reports/commitments?format=csv", EVERYONE,
             "commitment:public"),
    Endpoint("report of another organisation", "GET",
             lambda w: f"{V}/reports/pairings?organisation={w.org('G1')}",
             expect("agency=200 admin=200 supervisor=200 evaluator=200 outsider=200 *=403"),
             "in_force"),
    Endpoint("report beyond your region", "GET", lambda w: f"{V}/reports/tasks?region=331123",
             expect("admin=200 evaluator=200 agency=200 agency2=200 village=200 village2=200 "
                    "*=403")),
    Endpoint("coverage report", "GET", lambda w: f"{V}/reports/coverage", REGIONAL, "in_force"),
    Endpoint("follow-up report", "GET", lambda w: f"{V}/reports/followups", REGIONAL, "in_force"),
    Endpoint("inbox of V1", "GET", lambda w: f"{V}/reports/inbox?organisation={w.org('V1')}",
             V1_SEEN, "activity"),
    Endpoint("own inbox", "GET", lambda w: f"{V}/reports/inbox",
             expect("agency=200 agency2=200 village=200 village2=200 *=422")),
    # The verifiable log: log-wide proofs for the regional roles, bundles like histories.
    Endpoint("latest checkpoint", "GET", lambda w: f"{V}/audit/checkpoint", REGIONAL),
    Endpoint("verifier key", "GET", lambda w: f"{V}/audit/vkey", EVERYONE),
    Endpoint("consistency proof", "GET", lambda w: f"{V}/audit/consistency?from=1", REGIONAL),
    Endpoint("inclusion proof", "GET",
             lambda w: f"{V}/audit/inclusion?position={first_position(w, 'pairing')}",
             AUDITORS_IN_SCOPE, "in_force"),
    Endpoint("pairing bundle", "GET", lambda w: f"{V}/audit/pairings/{w.ids['pairing']}/bundle",
             PARTIES_SEE, "in_force"),
    Endpoint("task bundle", "GET",
             lambda w: f"{V}/audit/tasks/{w.ids['task']}/bundle", PARTIES_SEE,
             "task:delivered"),
]

@pytest.fixture
def opened(templates, app, tmp_path):
    engines = []

    def open_world(setup: str) -> tuple[Any, World]:
        engine, settings, cast, ids = templates.open(setup, tmp_path / "var")
        engines.append(engine)
        rebind(app, engine, settings)
        return engine, World(cast, ids)

    yield open_world
    for engine in engines:
        engine.close()


@pytest.fixture
def http(app):
    return JsonClient(app.test_client())


def call(http: JsonClient, world: World, endpoint: Endpoint, token: str | None):
    return http.request(endpoint.method, endpoint.path(world), token, json=endpoint.body(world))


CELLS = [(e, role) for e in ENDPOINTS for role in ROLES]


@pytest.mark.parametrize("endpoint,role", CELLS, ids=[f"{e.name}-{r}" for e, r in CELLS])
def test_each_role_gets_the_engines_answer(opened, http, endpoint: Endpoint, role: str):
    engine, world = opened(endpoint.setup)
    before = engine.recorder.max_notification_id()
    answer = call(http, world, endpoint, world.cast.tokens[role])
    expected = endpoint.expected[role]
    assert answer.status == expected, answer.content
    if expected >= 400:
        assert answer.content_type == "application/problem+json"
        assert answer.json["status"] == expected
        assert engine.recorder.max_notification_id() == before, "a refusal wrote an event"
    elif endpoint.method == "POST":
        assert engine.recorder.max_notification_id() > before
        if "version" in answer.json:
            assert answer.header("ETag") == f'"{answer.json["version"]}"'


UNAUTHENTICATED = ("none", "bad", "revoked")
GATES = [(e, who) for e in ENDPOINTS for who in UNAUTHENTICATED]


@pytest.mark.parametrize("endpoint,who", GATES, ids=[f"{e.name}-{w}" for e, w in GATES])
def test_no_valid_token_gets_401_and_changes_nothing(opened, http, endpoint: Endpoint, who: str):
    engine, world = opened(endpoint.setup)
    if who == "revoked":
        token = world.cast.tokens["agency"]
        engine.revoke_token(world.cast.actors["agency"], token, "离任")
    else:
        token = {"none": None, "bad": "not-a-real-token-0123456789"}[who]
    before = engine.recorder.max_notification_id()
    answer = call(http, world, endpoint, token)
    assert answer.status == 401, answer.content
    assert answer.content_type == "application/problem+json"
    assert answer.header("WWW-Authenticate").startswith("Bearer")
    assert engine.recorder.max_notification_id() == before


def test_a_supervisor_acts_for_a_village_only_by_naming_it(opened, http):
    engine, world = opened("proposed")
    cast, p = world.cast, world.ids["pairing"]
    path = f"{V}/pairings/{p}/accept"
    refused = http.post(path, cast.tokens["supervisor"], {})
    assert refused.status == 403 and refused.json["details"]["rule"] == "on-behalf-required"
    unexplained = http.post(path, cast.tokens["supervisor"], {"on_behalf_of": str(cast.orgs["V1"])})
    assert unexplained.expect(422)["errors"]["reason"]
    accepted = http.post(path, cast.tokens["supervisor"],
                         {"on_behalf_of": str(cast.orgs["V1"]), "reason": "村支书外出培训，乡镇代录"})
    assert accepted.expect(200)["state"] == "accepted"
    history = http.get(f"{V}/audit/pairings/{p}/history", cast.tokens["evaluator"]).expect(200)
    accepted_event = history["items"][-1]
    assert accepted_event["type"] == "PairingAccepted"
    assert accepted_event["on_behalf_of"] == str(cast.orgs["V1"])
    assert accepted_event["actor"]["role"] == "supervisor"
    assert accepted_event["proxy_entry"] == {"label": "代录", "reason": "村支书外出培训，乡镇代录"}


def test_an_evaluator_cannot_act_even_on_behalf(opened, http):
    engine, world = opened("proposed")
    cast, p = world.cast, world.ids["pairing"]
    answer = http.post(f"{V}/pairings/{p}/accept", cast.tokens["evaluator"],
                       {"on_behalf_of": str(cast.orgs["V1"])})
    assert answer.status == 403
    assert answer.json["type"] == "urn:cobuild:problem:forbidden"
