"""消息, 结果联评 and the desks' 待办 through Flask's test client: the other side's acts and
the workflow's notices reach an organisation newest first with an unread count kept per
user; rating the other side of a pairing from its 待办 item (bad input beside the field,
nothing written); a supervisor's and an evaluator's 待办 (DESIGN §12)."""
from __future__ import annotations

import re
from uuid import UUID

import pytest

from tests.support import COUNTY
from tests.test_web_pages_acts import Person, error_beside, events, person, text, web  # noqa: F401
from workflows.relay import integration_message, notice_for


def unread(body: str) -> int:
    found = re.search(r'class="count"[^>]*>([^<]+)<', body)
    return int(found.group(1)) if found else 0


def titles(body: str) -> list[str]:
    return re.findall(r'<span class="item-head">.*?<strong>([^<]+)</strong>', body, re.S)


@pytest.fixture
def people(web, engine, cast):  # noqa: F811 - the pages' fixture
    person(engine, cast, "李支书", "village", cast.village, "lizs")
    person(engine, cast, "王书记", "agency", cast.giver, "wangsj")
    for name, role, region, login in (("刘委员", "supervisor", f"{COUNTY}101", "liuwy"),
                                      ("孙组长", "evaluator", COUNTY, "sunzz")):
        outcome, _ = engine.register_user(cast.admin, name, role, None, region, login=login)
        engine.activate_account(login, outcome.details["activation_code"], "石练村2025春")
    browsers = {}
    for login in ("lizs", "wangsj", "liuwy", "sunzz"):
        b = Person(web)
        assert b.sign_in(login).status_code == 302
        browsers[login] = b
    return browsers


def test_the_other_side_s_acts_reach_an_organisation_newest_first_and_are_read_once(engine, cast, people):
    village, agency = people["lizs"], people["wangsj"]
    assert "暂无消息" in text(village.get("/messages"))
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village,
                               engine.today(), engine.today().replace(year=2027)).id
    todo = text(village.get("/todo"))
    assert unread(todo) == 1 and "消息" in todo
    page = text(village.get("/messages"))
    assert titles(page) == ["发起结对"] and "新消息" in page and "对方：县财政局机关党委" in page
    assert f'href="/pairings/{p}"' in page and "2025年3月1日 09:00" in page  # Shanghai time
    assert unread(text(village.get("/todo"))) == 0  # read, across requests
    assert "新消息" not in text(village.get("/messages"))
    engine.accept_pairing(cast.villager, p)
    engine.sign_agreement(cast.villager, p, engine.today())
    # The agency is told what the village did, newest first; the village not of its own acts.
    page = text(agency.get("/messages"))
    assert titles(page) == ["签订共建协议", "接受结对"]
    assert unread(text(agency.get("/me"))) == 0
    assert titles(text(village.get("/messages"))) == ["发起结对"]
    # A second sign-in of the same person keeps what was read.
    again = Person(village.client.application)
    assert again.sign_in("lizs").status_code == 302
    assert unread(text(again.get("/todo"))) == 0


def test_a_follow_up_case_s_notices_are_the_relay_s_words(engine, cast, people, clock):
    p = cast.pairing_in_force()
    village = people["lizs"]
    assert titles(text(village.get("/messages"))) == ["签订共建协议", "发起结对"]  # and read
    outcome = engine.open_followup(cast.supervisor, "pairing", p, cast.village, "半年无活动，请说明")
    case_id = outcome.id
    opened = next(e for e in engine.repository.event_store.get(case_id)
                  if type(e).__name__ == "FollowUpOpened")
    relay_words = notice_for(integration_message(1, opened))["text"]
    assert unread(text(village.get("/todo"))) == 1
    page = text(village.get("/messages"))
    assert titles(page)[0] == "督办立案" and relay_words in page and f'/followups/{case_id}"' in page
    engine.respond_followup(cast.villager, case_id, "下周开展联合主题党日")
    engine.close_followup(cast.supervisor, case_id, "resolved", "已开展活动")
    page = text(village.get("/messages"))
    assert titles(page)[:2] == ["督办结案", "督办立案"] and "督办已办结：已开展活动" in page
    # The township's supervisor is told of the answer; a region's desk has a 消息 tab too.
    desk = text(people["liuwy"].get("/messages"))
    assert "答复督办" in titles(desk) and "大柘镇石练村党支部已答复督办" in desk


def test_a_supervisor_s_todo_holds_answered_cases_and_an_evaluator_s_the_round(engine, cast, people):
    sup, ev = people["liuwy"], people["sunzz"]
    for who in (sup, ev):
        body = text(who.get("/todo"))
        assert "暂无待办" in body and 'href="/todo" aria-current="page"' in body and ">消息" in body
    p = cast.pairing_in_force()
    case_id = engine.open_followup(cast.supervisor, "pairing", p, cast.village, "请说明").id
    assert "督办结案" not in text(sup.get("/todo"))  # not answered yet
    engine.respond_followup(cast.villager, case_id, "已安排")
    body = text(sup.get("/todo"))
    assert "督办结案" in body and "大柘镇石练村党支部" in body and f"/followups/{case_id}" in body
    engine.open_evaluation(cast.admin, 2025, COUNTY)
    r = engine.evaluation_round_of(COUNTY, 2025)
    body = text(ev.get("/todo"))
    assert "计算考核得分" in body and "2025 年度考核" in body and f"/rounds/{r.id}" in body


def test_each_side_rates_the_other_from_its_todo_and_bad_input_writes_nothing(engine, cast, people):
    p = cast.pairing_in_force()
    engine.open_evaluation(cast.admin, 2025, COUNTY)
    r = engine.evaluation_round_of(COUNTY, 2025)
    village, agency = people["lizs"], people["wangsj"]
    todo = text(village.get("/todo"))
    path = f"/rounds/{r.id}/pairings/{p}/rate"
    assert "结果联评" in todo and path in todo
    form = text(village.get(path))
    for words in ("思想作风好", "工作机制好", "团结协作好", "发展业绩好", "群众反映好", "县财政局机关党委"):
        assert words in form
    before = events(engine)
    bad = village.post(path, {"ideology": "", "mechanism": "120", "teamwork": "八十",
                              "results": "-1", "response": "90"})
    assert bad.status_code == 422 and events(engine) == before
    body = text(bad)
    assert error_beside(body, "ideology") == "请给「思想作风好」打分"
    assert error_beside(body, "mechanism") == "「工作机制好」请填写 0 到 100 之间的整数"
    assert error_beside(body, "teamwork") == "「团结协作好」请填写 0 到 100 之间的整数"
    assert error_beside(body, "results") == "「发展业绩好」请填写 0 到 100 之间的整数"
    assert 'value="90"' in body  # what was typed stays
    assert village.post(path, {"ideology": "90"}, csrf=False).status_code == 400
    scores = {"ideology": "90", "mechanism": "85", "teamwork": "88", "results": "80", "response": "92"}
    done = village.post(path, scores)
    assert done.status_code == 302 and events(engine) == before + 1
    todo = text(village.get(done.headers["Location"]))
    assert "已提交联评评分" in todo and path not in todo
    assert "你方已经评过分了" in text(village.get(path))
    again = village.post(path, scores)
    assert again.status_code == 409 and events(engine) == before + 1
    assert "不能重复评分" in text(again)
    # The agency rates the village; another agency's clerk cannot open the form.
    assert agency.post(path, scores).status_code == 302
    assert path not in text(agency.get("/todo"))
    assert engine.evaluation_round_of(COUNTY, 2025).ratings[str(p)].keys() == {"giver", "receiver"}
    assert UUID(str(p))


def test_messages_page_through_newest_first_without_repeats(engine, cast, people, clock):
    p = cast.pairing_in_force()
    for n in range(25):
        clock.advance(hours=1)
        engine.record_activity(cast.agency, p, "joint_org_life", f"主题党日第{n + 1}次", engine.clock.now())
    village = people["lizs"]
    assert unread(text(village.get("/todo"))) == 27  # two of the pairing, 25 activities
    first = text(village.get("/messages"))
    shown = re.findall(r"活动：(主题党日第\d+次)", first)
    assert shown[:2] == ["主题党日第25次", "主题党日第24次"] and len(titles(first)) == 20
    older = re.search(r'href="(/messages\?before=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = text(village.get(older))
    more = re.findall(r"活动：(主题党日第\d+次)", second)
    assert more == [f"主题党日第{n}次" for n in range(5, 0, -1)] and not set(more) & set(shown)
    assert titles(second)[-2:] == ["签订共建协议", "发起结对"] and "更早的消息" not in second
    assert f'/pairings/{p}/activities/' in first
    assert village.get("/messages?before=garbage").status_code == 200  # read as the first page


def test_a_reminder_comes_in_the_relay_s_words_once_the_due_date_is_near(engine, cast, people, clock):
    from datetime import timedelta
    from decimal import Decimal

    from workflows.relay import reminder_text

    p = cast.pairing_in_force()
    due = engine.today() + timedelta(days=20)
    c = engine.make_commitment(cast.agency, p, "giver", "funds", "资助村道硬化 5 万元", due,
                               amount_yuan=Decimal("50000.00")).id
    engine.publicise_commitment(cast.agency, c, "村务公开栏", engine.today())
    agency = people["wangsj"]
    assert "到期提醒" not in text(agency.get("/messages"))  # 20 days ahead: not yet
    clock.advance(days=14)  # 6 days before: the rule set's 7 days have come
    page = text(agency.get("/messages"))
    words = reminder_text("资助村道硬化 5 万元", f"{due.year}年{due.month}月{due.day}日", 7)
    assert titles(page)[0] == "到期提醒" and words in page and f"/commitments/{c}" in page
    assert "到期提醒" not in text(people["lizs"].get("/messages"))  # the maker is reminded
    assert "公开承诺" in titles(text(people["lizs"].get("/messages")))  # the village is told
