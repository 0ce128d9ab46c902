"""The pages of villages and agencies through Flask's test client: the pairing page and its
timeline, each act's form, bad input (every field's error in Chinese beside it, nothing
written), CSRF, and another organisation's record by URL (DESIGN §12, §13)."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from uuid import UUID

import pytest

from api.web.auth import WebState
from tests.api_support import rebind
from workflows.tasks import TaskCommands
from tests.test_web_auth import PASSWORD, Browser, text

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Person(Browser):
    """A signed-in person; a form's CSRF token is the session's, read from any page."""

    def post(self, path: str, data: dict, csrf: bool = True, **kwargs):
        form = dict(data)
        if csrf:
            form["csrf_token"] = self.token("/login" if path == "/login" else "/me")
        return self.client.post(path, data=form, base_url=self.base_url, **kwargs)


@pytest.fixture
def web(app, engine, settings, cast):
    rebind(app, engine, settings)
    app.extensions["cobuild.web"] = WebState()
    return app


def person(engine, cast, name: str, role: str, org, login: str):
    outcome, _ = engine.register_user(cast.admin, name, role, org, login=login)
    engine.activate_account(login, outcome.details["activation_code"], PASSWORD)
    return outcome.id


@pytest.fixture
def people(web, engine, cast):
    """Signed-in browsers: 李支书 of 石练村 (village), 王书记 of 县财政局 (agency), and
    赵书记 of 县供电公司 (another agency)."""
    person(engine, cast, "李支书", "village", cast.village, "lizs")
    person(engine, cast, "王书记", "agency", cast.giver, "wangsj")
    person(engine, cast, "赵书记", "agency", cast.giver2, "zhaosj")
    browsers = {}
    for login in ("lizs", "wangsj", "zhaosj"):
        b = Person(web)
        assert b.sign_in(login).status_code == 302
        browsers[login] = b
    return browsers


def events(engine) -> int:
    return engine.recorder.max_notification_id() or 0


def error_beside(body: str, field: str) -> str:
    """The Chinese error shown beside ``field`` (its ``e-<field>`` element)."""
    match = re.search(rf'id="e-{field}">([^<]+)<', body)
    assert match, f"no error beside {field}"
    return match.group(1)


# -- the pairing page --------------------------------------------------------------------------

def test_the_pairing_page_names_the_parties_and_tells_the_history_in_chinese(engine, cast, people):
    village, agency = people["lizs"], people["wangsj"]
    proposed = agency.post("/pairings/new", {"village": str(cast.village), "term_start": "2025-03-01",
                                             "term_end": "2028-02-29", "areas": ["members", "industry"]})
    assert proposed.status_code == 302
    path = proposed.headers["Location"].split("?")[0]
    body = text(village.get(path))
    assert "县财政局机关党委" in body and "大柘镇石练村党支部" in body
    assert "待接受" in body and "接受结对" in body and "党员共管、产业共兴" in body
    assert "发起结对" in body and "王书记（县财政局机关党委）" in body
    assert "2025年3月1日 09:00" in body  # the fake clock's 01:00 UTC, in Shanghai
    assert not UUID_TEXT.search(re.sub(r'(href|action|value)="[^"]*"', "", body))

    assert village.post(path + "/accept", {}).status_code == 302
    assert village.post(path + "/sign", {"signed_on": "2025-03-01"}).status_code == 302
    assert agency.post(path + "/sign", {"signed_on": "2025-03-01"}).status_code == 302
    body = text(agency.get(path))
    assert "履行中" in body and "记录共建活动" in body
    assert body.count("签订共建协议") == 2 and "帮扶方签订" in body and "受援方签订" in body

    # 结对: the list with the status tag, from each side.
    assert "大柘镇石练村党支部" in text(agency.get("/pairings"))
    assert "县财政局机关党委" in text(village.get("/pairings"))


def test_an_entry_on_a_village_s_behalf_is_marked_and_a_late_one_too(engine, cast, people, clock):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2027, 12, 31))
    engine.accept_pairing(cast.supervisor, p.id, on_behalf_of=cast.village)
    body = text(people["wangsj"].get(f"/pairings/{p.id}"))
    assert "代录" in body and "代 大柘镇石练村党支部 录入" in body and "镇组织委员（督办）" in body
    assert "补录" not in body  # entered the day it happened
    engine.sign_agreement(cast.agency, p.id, engine.today())
    engine.sign_agreement(cast.villager, p.id, engine.today())
    clock.advance(days=45)
    engine.record_activity(cast.agency, p.id, "visit", "春节走访", datetime(2025, 3, 1, 2, 0, tzinfo=timezone.utc))
    body = text(people["wangsj"].get(f"/pairings/{p.id}"))
    assert "补录" in body and "2025年3月1日 10:00" in body and "2025年4月15日 09:00 补录" in body


def test_another_organisation_s_pairing_by_url_is_a_403_page(engine, cast, people):
    p = cast.pairing_in_force()
    answer = people["zhaosj"].get(f"/pairings/{p}")
    assert answer.status_code == 403 and "无权查看" in text(answer)
    before = events(engine)
    refused = people["zhaosj"].post(f"/pairings/{p}/activities/new",
                                    {"kind": "visit", "title": "走访", "day": "2025-03-01"})
    assert refused.status_code == 403 and events(engine) == before


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(engine, cast, people):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2027, 12, 31))
    before = events(engine)
    answer = people["lizs"].post(f"/pairings/{p.id}/accept", {}, csrf=False)
    assert answer.status_code == 400 and "页面已过期" in text(answer)
    assert events(engine) == before


# -- activities --------------------------------------------------------------------------------

def test_an_activity_recorded_by_the_agency_is_co_signed_by_the_village_from_todo(engine, cast, people):
    p = cast.pairing_in_force()
    agency, village = people["wangsj"], people["lizs"]
    answer = agency.post(f"/pairings/{p}/activities/new", {
        "kind": "joint_org_life", "title": "联合主题党日", "day": "2025-03-01", "giver": "5",
        "receiver": "8", "masses": ""})
    assert answer.status_code == 302
    todo = text(village.get("/todo"))
    assert "确认活动" in todo and "联合主题党日" in todo
    link = re.search(r'href="(/pairings/[^"]+/activities/[0-9a-f]+)"', todo).group(1)
    page = text(village.get(link))
    assert "确认活动" in page and "退回原因" in page and "帮扶方 5 人，受援方 8 人" in page
    assert village.post(link + "/cosign", {}).status_code == 302
    body = text(agency.get(f"/pairings/{p}"))
    assert "已确认" in body and "确认共建活动" in body and "活动：联合主题党日" in body
    assert "确认活动" not in text(village.get("/todo"))


def test_bad_activity_input_says_what_is_wrong_beside_each_field_and_writes_nothing(engine, cast, people):
    p = cast.pairing_in_force()
    before = events(engine)
    answer = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "party", "title": "", "day": "2025-13-01", "giver": "很多"})
    body = text(answer)
    assert answer.status_code == 422
    assert error_beside(body, "kind") == "请从列表中选择活动类型"
    assert error_beside(body, "title") == "请填写活动名称"
    assert error_beside(body, "day") == "活动日期请按 2026-03-01 的格式填写"
    assert error_beside(body, "giver") == "帮扶方人数请填写 0 到 100000 之间的整数"
    future = people["wangsj"].post(f"/pairings/{p}/activities/new", {
        "kind": "visit", "title": "走访", "day": "2025-03-02"})
    assert error_beside(text(future), "day") == "活动日期不能晚于今天"
    assert events(engine) == before


def test_contesting_an_activity_needs_a_reason(engine, cast, people):
    p = cast.pairing_in_force()
    outcome = engine.record_activity(cast.agency, p, "visit", "走访慰问", engine.clock.now())
    aid = outcome.details["activity_id"]
    before = events(engine)
    answer = people["lizs"].post(f"/pairings/{p}/activities/{aid}/contest", {"reason": "  "})
    assert answer.status_code == 422 and error_beside(text(answer), "reason") == "请填写退回原因"
    assert events(engine) == before
    assert people["lizs"].post(f"/pairings/{p}/activities/{aid}/contest",
                               {"reason": "当天没有来"}).status_code == 302
    body = text(people["wangsj"].get(f"/pairings/{p}"))
    assert "有异议" in body and "原因：当天没有来" in body


def test_the_side_that_recorded_an_activity_cannot_co_sign_it(engine, cast, people):
    p = cast.pairing_in_force()
    aid = engine.record_activity(cast.agency, p, "visit", "走访", engine.clock.now()).details["activity_id"]
    before = events(engine)
    answer = people["wangsj"].post(f"/pairings/{p}/activities/{aid}/cosign", {})
    assert answer.status_code == 409 and "记录的一方不能自己确认" in text(answer)
    assert events(engine) == before


# -- proposing ---------------------------------------------------------------------------------

def test_an_agency_finds_the_village_by_name_and_bad_terms_are_refused(engine, cast, people):
    agency = people["wangsj"]
    found = text(agency.get("/pairings/new?q=石练"))
    assert "大柘镇石练村党支部" in found and "黄岩村" not in found and "县供电公司" not in found
    assert "没有找到" in text(agency.get("/pairings/new?q=不存在的村"))
    before = events(engine)
    answer = agency.post("/pairings/new", {"village": str(cast.village), "term_start": "2025-03-01",
                                           "term_end": "2025-02-01"})
    assert answer.status_code == 422
    assert error_beside(text(answer), "term_end") == "协议结束日期必须晚于开始日期"
    answer = agency.post("/pairings/new", {"term_start": "", "term_end": "x"})
    body = text(answer)
    assert error_beside(body, "q") == "请先搜索并选择要结对的村（社区）"
    assert events(engine) == before
    assert people["lizs"].get("/pairings/new").status_code == 403


# -- needs -------------------------------------------------------------------------------------

def test_a_need_goes_from_the_village_to_the_agency_and_back_confirmed(engine, cast, people):
    cast.pairing_in_force()
    village, agency = people["lizs"], people["wangsj"]
    raised = village.post("/needs/new", {"category": "infrastructure", "title": "村口路灯维修",
                                         "details": "12 盏", "wanted_by": "2025-06-30"})
    assert raised.status_code == 302
    need = raised.headers["Location"].split("?")[0]
    task_id = UUID(need.rsplit("/", 1)[1])
    assert "村口路灯维修" in text(village.get("/needs"))
    engine.claim_task(cast.agency, task_id, cast.giver)  # from the page: the test below
    before = events(engine)
    bad = agency.post(need + "/plan", {"due_on": "", "budget_yuan": "五千"})
    assert error_beside(text(bad), "due_on") == "请填写计划完成日期"
    assert error_beside(text(bad), "budget_yuan") == "预算（元）请填写金额数字，例如 5000 或 5000.50"
    assert events(engine) == before
    assert agency.post(need + "/plan", {"due_on": "2025-04-30", "budget_yuan": "5000"}).status_code == 302
    assert agency.post(need + "/deliver", {"delivered_on": "2025-03-01", "value_yuan": "4,800.50",
                                           "note": "已更换灯泡"}).status_code == 302
    todo = text(village.get("/todo"))
    assert "确认交付" in todo and f'href="/needs/{task_id}"' in todo
    page = text(village.get(need))
    assert "确认交付" in page and "4,800.50 元" in page and "县财政局机关党委" in page
    assert village.post(need + "/confirm", {}).status_code == 302
    assert "已确认" in text(agency.get(need))
    rated = village.post(need + "/rate", {"level": "satisfied", "comment": ""})
    assert rated.status_code == 302
    body = text(agency.get(need))
    assert "已评价" in body and "评价：满意" in body and "报告交付" in body


def test_bad_need_input_says_what_is_wrong_beside_each_field(engine, cast, people):
    before = events(engine)
    answer = people["lizs"].post("/needs/new", {"category": "", "title": "x" * 201,
                                                "wanted_by": "2025-02-01"})
    body = text(answer)
    assert answer.status_code == 422
    assert error_beside(body, "category") == "请选择需求类别"
    assert error_beside(body, "title").startswith("需求名称最多 200 个字")
    assert error_beside(body, "wanted_by") == "希望完成日期不能早于今天"
    assert events(engine) == before


def test_rejecting_a_delivery_needs_a_reason_and_the_deliverer_cannot_confirm(engine, cast, people):
    cast.pairing_in_force()
    e = engine
    t = e.raise_need(cast.villager, cast.village, "health", "义诊").id
    e.claim_task(cast.agency, t, cast.giver)
    e.plan_task(cast.agency, t, date(2025, 4, 1))
    e.report_delivery(cast.agency, t, e.clock.now())
    before = events(engine)
    answer = people["lizs"].post(f"/needs/{t}/reject", {"reason": ""})
    assert answer.status_code == 422 and error_beside(text(answer), "reason") == "请填写退回原因"
    own = people["wangsj"].post(f"/needs/{t}/confirm", {})
    assert own.status_code == 409 and "交付的一方不能自己确认" in text(own)
    assert events(engine) == before
    assert people["zhaosj"].get(f"/needs/{t}").status_code == 403


# -- commitments -------------------------------------------------------------------------------

def test_a_commitment_is_made_publicised_claimed_and_confirmed_through_forms(engine, cast, people):
    p = cast.pairing_in_force()
    agency, village = people["wangsj"], people["lizs"]
    before = events(engine)
    bad = agency.post(f"/pairings/{p}/commitments/new", {"category": "funds", "content": "资助",
                                                         "due_on": "2025-12-31"})
    assert error_beside(text(bad), "quantity") == "请填写数量和单位，或者金额（至少一项）"
    assert events(engine) == before
    made = agency.post(f"/pairings/{p}/commitments/new", {
        "category": "funds", "content": "资助修缮文化礼堂", "due_on": "2025-12-31",
        "amount_yuan": "50000"})
    assert made.status_code == 302
    page = made.headers["Location"].split("?")[0]
    assert agency.post(page + "/publicise", {"channel": "村务公开栏",
                                             "publicised_on": "2025-03-01"}).status_code == 302
    assert agency.post(page + "/claim", {"claim_note": "已拨付"}).status_code == 302
    todo = text(village.get("/todo"))
    assert "确认践诺" in todo and page in todo
    assert village.post(page + "/confirm", {}).status_code == 302
    body = text(agency.get(page))
    assert "已践诺" in body and "50,000.00 元" in body and "确认践诺" in body


AGENCIES_SEE_NEEDS = hasattr(TaskCommands, "visible_beyond_parties")


@pytest.mark.skipif(not AGENCIES_SEE_NEEDS, reason="the engine does not yet show an agency the "
                    "needs of its villages (worktree acts, workflows/tasks.py)")
def test_an_agency_finds_its_village_s_need_under_needs_and_claims_it(engine, cast, people):
    cast.pairing_in_force()
    t = engine.raise_need(cast.villager, cast.village, "health", "义诊").id
    listed = text(people["wangsj"].get("/needs"))
    assert "可认领的需求" in listed and "义诊" in listed and f"/needs/{t}" in listed
    assert people["wangsj"].post(f"/needs/{t}/claim", {}).status_code == 302
    body = text(people["lizs"].get(f"/needs/{t}"))
    assert "已认领" in body and "认领单位：县财政局机关党委" in body
