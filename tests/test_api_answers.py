"""Answers people read (issue #14 item 4): a Chinese label beside every code, times in
Asia/Shanghai, amounts with two decimals, Chinese as UTF-8 rather than ``\\uXXXX``."""
from __future__ import annotations

import re
import uuid

import pytest

from domain import labels
from tests.api_support import JsonClient, rebind

V = "/api/v1"
LOCAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00$")


@pytest.fixture
def world(templates, app, tmp_path):
    opened = []

    def open_world(setup: str):
        engine, settings, cast, ids = templates.open(setup, tmp_path / "var")
        opened.append(engine)
        rebind(app, engine, settings)
        return engine, cast, ids, JsonClient(app.test_client())

    yield open_world
    for engine in opened:
        engine.close()


def test_reports_and_resources_answer_chinese_as_utf8(world):
    engine, cast, ids, http = world("in_force")
    engine.open_followup(cast.actors["admin"], "pairing", uuid.UUID(ids["pairing"]),
                         cast.orgs["G1"], "半年未见联合活动，请说明")
    for path in ("/reports/followups", "/reports/pairings", f"/pairings/{ids['pairing']}",
                 f"/organisations/{cast.orgs['V1']}"):
        answer = http.get(V + path, cast.tokens["evaluator"])
        assert answer.status == 200, path
        assert b"\\u" not in answer.content, path
        assert re.search("[\u4e00-\u9fff]", answer.content.decode("utf-8")), path
    item = http.get(f"{V}/reports/followups", cast.tokens["evaluator"]).expect(200)["items"][0]
    assert (item["rule_label"], item["state_label"], item["severity_label"],
            item["subject_type_label"]) == ("督办", "待答复", "预警", "结对")


def test_a_commitment_answers_labels_local_times_and_two_decimals(world):
    engine, cast, ids, http = world("in_force")
    made = http.post(f"{V}/commitments", cast.tokens["agency"], {
        "pairing_id": ids["pairing"], "made_by": "giver", "category": "funds",
        "content": "资助村道硬化", "due_on": "2025-12-31", "amount_yuan": "50000"}).expect(201)
    c = http.get(f"{V}/commitments/{made['id']}", cast.tokens["village"]).expect(200)
    assert (c["state"], c["state_label"]) == ("draft", "草稿")
    assert (c["category_label"], c["made_by_label"], c["outcome_label"]) == ("资金", "帮扶方", None)
    assert c["amount_yuan"] == "50000.00"
    http.post(f"{V}/commitments/{made['id']}/publicise", cast.tokens["agency"],
              {"channel": "村务公开栏", "publicised_on": "2025-03-01"}).expect(200)
    http.post(f"{V}/commitments/{made['id']}/claim-fulfilment", cast.tokens["agency"],
              {}).expect(200)
    c = http.get(f"{V}/commitments/{made['id']}", cast.tokens["village"]).expect(200)
    # Stored as 01:00 UTC, the world's clock: nine in the morning in Beijing.
    assert c["claimed_at"] == "2025-03-01T09:00:00+08:00"
    ledger = http.get(f"{V}/reports/commitments", cast.tokens["agency"]).expect(200)["items"]
    assert [(i["amount_yuan"], i["state_label"], i["category_label"]) for i in ledger] == [
        ("50000.00", "待确认践诺", "资金")]


def test_a_task_and_its_history_answer_labels_and_local_times(world):
    engine, cast, ids, http = world("task:rated")
    t = http.get(f"{V}/tasks/{ids['task']}", cast.tokens["village"]).expect(200)
    assert (t["state_label"], t["category_label"], t["satisfaction_label"]) == (
        "已评价", "基础设施", "满意")
    assert (t["budget_yuan"], t["value_yuan"]) == ("80000.00", "78000.00")
    for moment in ("raised_at", "delivered_at", "confirmed_at"):
        assert LOCAL.match(t[moment]), (moment, t[moment])
    history = http.get(f"{V}/audit/tasks/{ids['task']}/history", cast.tokens["village"]).expect(200)
    first = history["items"][0]
    assert (first["type"], first["type_label"]) == ("NeedRaised", "提出需求")
    assert first["actor"]["role_label"] == "村（社区）"
    assert LOCAL.match(first["occurred_at"]) and LOCAL.match(first["recorded_at"])
    assert all(i["type_label"] == labels.EVENT_TYPES[i["type"]] for i in history["items"])
    pairing = http.get(f"{V}/pairings/{ids['pairing']}", cast.tokens["village"]).expect(200)
    assert pairing["state_label"] == "履行中"
    pairing_history = http.get(f"{V}/audit/pairings/{ids['pairing']}/history",
                               cast.tokens["village"]).expect(200)["items"]
    assert pairing_history[0]["type_label"] == "发起结对"


def test_an_organisation_and_a_user_answer_labels(world):
    engine, cast, ids, http = world("none")
    org = http.get(f"{V}/organisations/{cast.orgs['V1']}", cast.tokens["admin"]).expect(200)
    assert (org["kind_label"], org["state_label"]) == ("村", "正常")
    me = http.get(f"{V}/users/me", cast.tokens["village"]).expect(200)
    assert me["role_label"] == "村（社区）"
    user = http.get(f"{V}/users/{cast.users['supervisor']}", cast.tokens["admin"]).expect(200)
    assert (user["role_label"], user["state_label"]) == ("督办", "正常")


def test_the_openapi_document_names_labels_and_local_times(world):
    engine, cast, ids, http = world("none")
    doc = http.get("/api/openapi.json").expect(200)
    schemas = doc["components"]["schemas"]
    board = schemas["BoardItem"]["properties"]
    assert board["status"]["enum"][:2] == ["proposed", "active"]
    assert board["status_label"]["type"] == "string"
    assert board["status"]["x-labels"]["paired_but_inactive"] == "联而不动"
    assert "rule_label" in schemas["RuleHitItem"]["properties"]
    assert schemas["CommitmentItem"]["properties"]["amount_yuan"]["example"] == "50000.00"
    assert "state_label" in schemas["Task"]["properties"]
    assert schemas["Task"]["properties"]["raised_at"]["example"].endswith("+08:00")
