"""What DESIGN §11 adds for the people using the API: tokens that expire and can be stopped,
users listed without secrets, organisations found by name, the rule set over HTTP, the needs
an agency may claim, drafts made by mistake, deliveries entered late."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.base import Actor
from tests.api_support import JsonClient, rebind

V = "/api/v1"


@pytest.fixture
def world(templates, app, tmp_path):
    opened = []

    def open_world(setup: str = "none"):
        engine, settings, cast, ids = templates.open(setup, tmp_path / f"var{len(opened)}")
        opened.append(engine)
        rebind(app, engine, settings)
        return engine, cast, ids, JsonClient(app.test_client())

    yield open_world
    for engine in opened:
        engine.close()


# -- tokens and users ----------------------------------------------------------------------------

def test_a_token_expires_after_the_rule_sets_days(world):
    engine, cast, _, http = world()
    token = cast.tokens["village"]
    engine.clock.advance(days=89)
    http.get(f"{V}/users/me", token).expect(200)
    engine.clock.advance(days=1)
    expired = http.get(f"{V}/users/me", token)
    assert expired.status == 401 and "expired" in expired.json["detail"]
    # A longer validity published by the department applies to the tokens already out.
    engine.publish_rules(_admin(engine, cast), {"token_days": 120})
    http.get(f"{V}/users/me", token).expect(200)


def _admin(engine, cast) -> Actor:
    """The first admin acting in the engine (its token may have expired in the test)."""
    return Actor(user_id=str(cast.users["admin"]), role="admin", region_code="")


def test_revoking_a_users_tokens_stops_every_one_and_not_the_next(world):
    engine, cast, _, http = world()
    user = cast.users["village"]
    second = http.post(f"{V}/users/{user}/tokens", cast.tokens["admin"], {}).expect(201)["token"]
    http.post(f"{V}/users/{user}/revoke-tokens", cast.tokens["village"],
              {"reason": "手机遗失"}).expect(200)
    for token in (cast.tokens["village"], second):
        assert http.get(f"{V}/users/me", token).status == 401
    fresh = http.post(f"{V}/users/{user}/tokens", cast.tokens["admin"], {}).expect(201)["token"]
    assert http.get(f"{V}/users/me", fresh).expect(200)["user_id"] == str(user)


def test_a_deactivated_user_is_listed_as_such_and_signs_in_no_more(world):
    engine, cast, _, http = world()
    admin, user = cast.tokens["admin"], cast.users["village2"]
    http.post(f"{V}/users/{user}/deactivate", admin, {"reason": "调离岗位"}).expect(200)
    assert http.get(f"{V}/users/me", cast.tokens["village2"]).status == 401
    listed = http.get(f"{V}/users?organisation={cast.orgs['V2']}", admin).expect(200)["items"]
    assert [(u["name"], u["state"], u["organisation_name"]) for u in listed] == [
        ("陈支书", "deactivated", "大柘镇黄岩村党支部")]
    assert http.post(f"{V}/users/{user}/tokens", admin, {}).status == 409


def test_the_user_list_is_the_admins_region_and_holds_no_secret(world):
    engine, cast, _, http = world()
    page = http.get(f"{V}/users?limit=3", cast.tokens["admin"]).expect(200)
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = http.get(f"{V}/users?limit=50&cursor={page['next_cursor']}", cast.tokens["admin"])
    everyone = page["items"] + rest.expect(200)["items"]
    assert len({u["id"] for u in everyone}) == len(cast.users)
    body = http.get(f"{V}/users?limit=50", cast.tokens["admin"]).content.decode()
    assert not any(token in body for token in cast.tokens.values())
    township = [u["name"] for u in
                http.get(f"{V}/users?region=331123101", cast.tokens["admin"]).expect(200)["items"]]
    assert sorted(township) == sorted(["李支书", "陈支书", "镇组织委员"])
    engine.register_user(_admin(engine, cast), "县管理员", "admin", region_code="331123")
    county_admin = engine.register_user(_admin(engine, cast), "县管理员二", "admin",
                                        region_code="331124")[1]
    assert http.get(f"{V}/users?region=331123", county_admin).status == 403


# -- organisations found by name -----------------------------------------------------------------

def test_organisations_are_found_by_part_of_the_name_or_code(world):
    engine, cast, _, http = world()
    names = lambda token, query: [o["name"] for o in  # noqa: E731
                                  http.get(f"{V}/organisations?{query}", token).expect(200)["items"]]
    village = cast.tokens["village"]
    assert names(village, "q=大柘镇") == ["大柘镇石练村党支部", "大柘镇黄岩村党支部"]
    assert names(village, "q=黄岩") == ["大柘镇黄岩村党支部"]
    assert names(village, "q=g2") == ["县供电公司党委"]
    assert names(village, "kind=enterprise") == ["县供电公司党委"]
    assert names(village, "region=331123101202") == ["大柘镇黄岩村党支部"]
    assert names(village, "q=100%25") == []  # a wildcard is a character like any other
    first = http.get(f"{V}/organisations?limit=2", village).expect(200)
    second = http.get(f"{V}/organisations?limit=2&cursor={first['next_cursor']}", village)
    assert len({o["id"] for o in first["items"] + second.expect(200)["items"]}) == 4
    assert second.json["next_cursor"] is None
    # Income details for the regional roles only.
    engine.report_collective_income(_admin(engine, cast), cast.orgs["V1"], 2024, Decimal("21000.00"))
    (seen,) = http.get(f"{V}/organisations?q=石练", cast.tokens["supervisor"]).expect(200)["items"]
    assert (seen["weak"], seen["income_year"], seen["income_yuan"]) == (True, 2024, "21000.00")
    (hidden,) = http.get(f"{V}/organisations?q=石练", village).expect(200)["items"]
    assert "weak" not in hidden and "income_yuan" not in hidden
    engine.dissolve_organisation(_admin(engine, cast), cast.orgs["V2"], "村庄撤并")
    assert names(village, "q=黄岩") == []


# -- the rule set ----------------------------------------------------------------------------------

def test_the_rule_set_is_read_by_all_and_published_by_the_admin_with_its_version(world):
    engine, cast, _, http = world()
    read = http.get(f"{V}/rules", cast.tokens["village"])
    assert read.expect(200)["version"] == 0 and read.header("ETag") == '"0"'
    assert read.json["values"]["r2_inactive_days"] == 90
    published = http.post(f"{V}/rules", cast.tokens["admin"],
                          {"r2_inactive_days": 60, "satisfaction": {"dissatisfied": 50}},
                          headers={"If-Match": '"0"'}).expect(201)
    assert published["version"] == 1
    values = http.get(f"{V}/rules", cast.tokens["agency"]).expect(200)["values"]
    assert (values["r2_inactive_days"], values["satisfaction"]["dissatisfied"],
            values["satisfaction"]["satisfied"]) == (60, 50, 100)
    bad = http.post(f"{V}/rules", cast.tokens["admin"], {"r2_inactive_dayz": 60})
    assert bad.status == 422 and list(bad.json["errors"]) == ["r2_inactive_dayz"]
    stale = http.post(f"{V}/rules", cast.tokens["admin"], {"r2_inactive_days": 70},
                      headers={"If-Match": '"0"'})
    assert stale.status == 412 and stale.json["current_etag"] == '"1"'


# -- the needs an agency may claim ----------------------------------------------------------------

def ids_of(http, path: str, token: str) -> set[str]:
    items = http.get(path, token).expect(200)["items"]
    return {i.get("task_id") or i.get("id") for i in items}


def test_an_open_need_is_seen_by_its_villages_partner_and_no_other_agency(world):
    engine, cast, ids, http = world("task:open")
    need = ids["task"]
    assert need in ids_of(http, f"{V}/reports/tasks", cast.tokens["agency"])
    assert need in ids_of(http, f"{V}/reports/inbox", cast.tokens["agency"])
    http.get(f"{V}/tasks/{need}", cast.tokens["agency"]).expect(200)
    for stranger in ("agency2", "village2"):
        assert need not in ids_of(http, f"{V}/reports/tasks", cast.tokens[stranger])
        assert need not in ids_of(http, f"{V}/reports/inbox", cast.tokens[stranger])
        assert http.get(f"{V}/tasks/{need}", cast.tokens[stranger]).status == 403
    refused = http.post(f"{V}/tasks/{need}/claim", cast.tokens["agency2"],
                        {"giver_id": str(cast.orgs["G2"])})
    assert refused.status == 403
    # Claimed by the partner, it leaves the inbox and stays in the report as its task.
    http.post(f"{V}/tasks/{need}/claim", cast.tokens["agency"],
              {"giver_id": str(cast.orgs["G1"])}).expect(200)
    assert need not in ids_of(http, f"{V}/reports/inbox", cast.tokens["agency"])
    assert need in ids_of(http, f"{V}/reports/tasks", cast.tokens["agency"])


def test_a_pooled_need_is_in_every_agencys_task_report(world):
    engine, cast, ids, http = world("task:pooled")
    need = ids["task"]
    assert need in ids_of(http, f"{V}/reports/tasks", cast.tokens["agency2"])
    assert need not in ids_of(http, f"{V}/reports/tasks", cast.tokens["village2"])
    http.post(f"{V}/tasks/{need}/claim", cast.tokens["agency2"],
              {"giver_id": str(cast.orgs["G2"])}).expect(200)
    # Once another agency has claimed it, it is that agency's task, not the pool's.
    assert need not in ids_of(http, f"{V}/reports/tasks", cast.tokens["agency"])


# -- drafts made by mistake, deliveries entered late ------------------------------------------------

def test_a_discarded_draft_stays_in_the_history_and_shows_in_the_ledger(world):
    engine, cast, ids, http = world("commitment:draft")
    c, agency = ids["commitment"], cast.tokens["agency"]
    http.post(f"{V}/commitments/{c}/correct", agency,
              {"reason": "金额多打一个零", "amount_yuan": "5000.00", "content": "资助村道硬化 5 千元"}
              ).expect(200)
    ledger = {i["id"]: i for i in http.get(f"{V}/reports/commitments", agency).expect(200)["items"]}
    assert (ledger[c]["amount_yuan"], ledger[c]["content"]) == ("5000.00", "资助村道硬化 5 千元")
    assert http.post(f"{V}/commitments/{c}/discard", agency,
                     {"reason": "与另一承诺重复"}).expect(200)["state"] == "discarded"
    read = http.get(f"{V}/commitments/{c}", cast.tokens["village"]).expect(200)
    assert (read["state"], read["discard_reason"]) == ("discarded", "与另一承诺重复")
    ledger = {i["id"]: i for i in http.get(f"{V}/reports/commitments", agency).expect(200)["items"]}
    assert (ledger[c]["state"], ledger[c]["state_label"]) == ("discarded", "已作废")
    history = http.get(f"{V}/audit/commitments/{c}/history", cast.tokens["evaluator"]).expect(200)
    assert [i["type"] for i in history["items"]] == [
        "CommitmentMade", "CommitmentCorrected", "CommitmentDiscarded"]
    assert history["items"][0]["data"]["amount_yuan"] == "50000.00"


def test_a_delivery_can_be_reported_late_with_its_business_time(world):
    engine, cast, ids, http = world("task:planned")
    engine.clock.advance(days=20)
    t = ids["task"]
    http.post(f"{V}/tasks/{t}/deliver", cast.tokens["agency"],
              {"delivered_at": "2025-03-05T16:00:00+08:00",
               "occurred_at": "2025-03-06T09:00:00+08:00", "value_yuan": "78000.00"}).expect(200)
    history = http.get(f"{V}/audit/tasks/{t}/history", cast.tokens["evaluator"]).expect(200)
    delivered = history["items"][-1]
    assert delivered["type"] == "DeliveryReported"
    assert delivered["occurred_at"] == "2025-03-06T09:00:00+08:00"


def test_an_answer_to_a_case_retried_with_its_key_is_written_once(world):
    engine, cast, ids, http = world("followup")
    path, village = f"{V}/followups/{ids['followup']}/respond", cast.tokens["village"]
    body, key = {"text": "已整改"}, {"Idempotency-Key": "answer-1"}
    first = http.post(path, village, body, headers=key).expect(200)
    before = engine.recorder.max_notification_id()
    again = http.post(path, village, body, headers=key)
    assert again.expect(200) == first and again.header("Idempotent-Replayed") == "true"
    assert engine.recorder.max_notification_id() == before
    stale = http.post(path, village, {"text": "补充说明"}, headers={"If-Match": '"1"'})
    assert stale.status == 412
    case = http.get(f"{V}/followups/{ids['followup']}", cast.tokens["supervisor"])
    assert [r["text"] for r in case.expect(200)["responses"]] == ["已整改"]
    assert case.header("ETag") == f'"{first["version"]}"'
