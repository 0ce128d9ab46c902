"""The supervisor's pages through Flask's test client: the 联而不动 board by township, a
follow-up case opened by hand, read with its answer and closed, coverage by township; bad
input beside the field with nothing written, CSRF, another county's case by URL (DESIGN §12)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from uuid import UUID

import pytest

from domain.followup import FollowUpCase
from tests.support import COUNTY
from tests.test_web_pages_acts import Person, error_beside, events, person, text, web  # noqa: F401


@pytest.fixture
def desk(web, engine, cast):  # noqa: F811 - the pages' fixture
    """Signed-in browsers: 镇组织委员 (supervisor of the township), 外县督办 (another
    county's supervisor), 李支书 (the village) and 王书记 (the agency)."""
    for name, role, org, region, login in (
            ("刘委员", "supervisor", None, f"{COUNTY}101", "liuwy"),
            ("外县督办", "supervisor", None, "330100", "waixian"),
            ("周部长", "supervisor", None, COUNTY, "zhoubz")):
        outcome, _ = engine.register_user(cast.admin, name, role, org, region, login=login)
        engine.activate_account(login, outcome.details["activation_code"], "石练村2025春")
    person(engine, cast, "李支书", "village", cast.village, "lizs")
    person(engine, cast, "王书记", "agency", cast.giver, "wangsj")
    browsers = {}
    for login in ("liuwy", "waixian", "zhoubz", "lizs", "wangsj"):
        b = Person(web)
        assert b.sign_in(login).status_code == 302
        browsers[login] = b
    return browsers


def test_an_idle_pairing_shows_on_the_board_with_its_days_and_severity_in_words(engine, cast, desk, clock):
    p = cast.pairing_in_force()
    clock.advance(days=100)
    board = text(desk["zhoubz"].get("/board"))
    assert "大柘镇石练村党支部" in board and "县财政局机关党委" in board
    assert "联而不动" in board and "预警" in board and "100 天没有确认的活动" in board
    assert "无活动天数：100" in board
    # The township is chosen by its name; the list is the county's townships.
    assert re.search(r'<option value="331123101"[^>]*>大柘镇</option>', board)
    assert "大柘镇石练村党支部" in text(desk["zhoubz"].get("/board?region=331123101"))
    clock.advance(days=90)
    assert "严重" in text(desk["liuwy"].get("/board"))
    # Another county's supervisor sees none of it.
    assert "石练村" not in text(desk["waixian"].get("/board"))
    assert desk["lizs"].get("/board").status_code == 403
    assert f"/pairings/{p}/followups/new" in board


def test_a_case_opened_by_hand_is_answered_read_and_closed(engine, cast, desk):
    p = cast.pairing_in_force()
    sup = desk["liuwy"]
    form = text(sup.get(f"/pairings/{p}/followups/new"))
    assert "县财政局机关党委" in form and "大柘镇石练村党支部" in form
    before = events(engine)
    refused = sup.post(f"/pairings/{p}/followups/new", {"responsible": "", "note": " "})
    assert refused.status_code == 422 and events(engine) == before
    body = text(refused)
    assert error_beside(body, "responsible") == "请选择责任单位"
    assert error_beside(body, "note") == "请填写督办事项"
    opened = sup.post(f"/pairings/{p}/followups/new", {"responsible": "receiver", "note": "半年无活动，请说明"})
    assert opened.status_code == 302
    case_path = opened.headers["Location"].split("?")[0]
    case_id = UUID(case_path.rsplit("/", 1)[1])
    listed = text(sup.get("/followups"))
    assert "大柘镇石练村党支部" in listed and "待答复" in listed and "督办" in listed

    village = desk["lizs"]
    assert "答复督办" in text(village.get(case_path)) and "结案理由" not in text(village.get(case_path))
    before = events(engine)
    empty = village.post(case_path + "/answer", {"text": " "})
    assert empty.status_code == 422 and events(engine) == before
    assert error_beside(text(empty), "text") == "请填写答复内容"
    answered = village.post(case_path + "/answer", {"text": "下周开展联合主题党日"})
    assert answered.status_code == 302 and "已答复" in text(village.get(answered.headers["Location"]))
    assert "答复督办" not in text(sup.get(case_path))  # only the responsible organisation answers
    page = text(sup.get(case_path))
    assert "下周开展联合主题党日" in page and "已答复" in page and "半年无活动，请说明" in page
    assert "结对：县财政局机关党委 — 大柘镇石练村党支部" in page

    before = events(engine)
    bad = sup.post(case_path + "/close", {"resolution": "forgotten", "reason": ""})
    assert bad.status_code == 422 and events(engine) == before
    assert error_beside(text(bad), "resolution") == "请从列表中选择处理结果"
    assert error_beside(text(bad), "reason") == "请填写结案理由"
    assert sup.post(case_path + "/close", {"resolution": "resolved", "reason": "已开展活动"},
                    csrf=False).status_code == 400
    assert events(engine) == before
    closed = sup.post(case_path + "/close", {"resolution": "resolved", "reason": "已开展活动"})
    assert closed.status_code == 302
    assert engine.load(FollowUpCase, case_id).state == "closed"
    page = text(sup.get(closed.headers["Location"]))
    assert "督办已结案" in page and "已解决" in page and 'action="' + case_path + '/close"' not in page
    assert "大柘镇石练村党支部" not in text(sup.get("/followups"))


def test_another_county_s_case_by_url_is_a_403_page_and_closing_it_writes_nothing(engine, cast, desk):
    p = cast.pairing_in_force()
    case = engine.open_followup(cast.supervisor, "pairing", p, cast.village, "请说明")
    answer = desk["waixian"].get(f"/followups/{case.id}")
    assert answer.status_code == 403 and "无权查看" in text(answer)
    before = events(engine)
    refused = desk["waixian"].post(f"/followups/{case.id}/close", {"resolution": "dismissed", "reason": "不管"})
    assert refused.status_code == 403 and events(engine) == before
    # The agency is no party to the village's case; the village reads it but cannot close it.
    assert desk["wangsj"].get(f"/followups/{case.id}").status_code == 403
    village = text(desk["lizs"].get(f"/followups/{case.id}"))
    assert "请说明" in village and "结案理由" not in village


def test_coverage_by_township_names_the_weak_villages_without_a_pairing(engine, cast, desk):
    from decimal import Decimal
    engine.report_collective_income(cast.admin, cast.village, 2024, Decimal("12000"))
    engine.report_collective_income(cast.admin, cast.village2, 2024, Decimal("8000"))
    cast.pairing_in_force()
    body = desk["zhoubz"].get("/coverage").get_data(as_text=True)
    assert "大柘镇" in body and "大柘镇黄岩村党支部" in body
    assert "50.0%" in body and "薄弱村 2 个，已结对 1 个" in body
    data = json.loads(re.search(r'<script type="application/json" class="chart-data">(.*?)</script>',
                                body, re.S).group(1))
    assert data == {"names": ["大柘镇"], "paired": [1], "unpaired": [1]}
    assert "<script>" not in body  # the CSP forbids inline script: the chart reads its data block


def test_the_board_marks_a_pairing_whose_co_signed_activity_a_proxy_entered(engine, cast, desk, clock):
    p = cast.pairing_in_force()
    cast.pairing_in_force((cast.agency2, cast.giver2), (cast.villager2, cast.village2))
    made = engine.record_activity(cast.admin, p, "visit", "春节走访",
                                  datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc),
                                  on_behalf_of=cast.giver, reason="财政局书记外出培训，由县委组织部代录")
    engine.cosign_activity(cast.villager, p, made.details["activity_id"])
    clock.advance(days=100)
    board = text(desk["zhoubz"].get("/board"))
    rows = {name: li for li in re.findall(r'<li class="item">(.*?)</li>', board, re.S)
            for name in ("石练村", "黄岩村") if name in li}
    assert "代录" in rows["石练村"] and "1 项已确认的活动由他人代录" in rows["石练村"]
    assert "代录" not in rows["黄岩村"]  # idle too, but nothing entered by a proxy


def test_the_board_names_its_rules_in_words_default_until_one_is_published(engine, cast, desk, clock):
    """「默认规则」 on the board and on a case's measures, never 「规则集版本 0」."""
    cast.pairing_in_force()
    clock.advance(days=100)
    board = text(desk["zhoubz"].get("/board"))
    assert "默认规则" in board and "版本" not in board
    assert '<span class="keep">全部乡镇（街道）</span>' in board  # what the board covers, in words
    engine.publish_rules(cast.admin, {"r2_inactive_days": 60}, "按县委组织部通知调整")
    board = text(desk["zhoubz"].get("/board"))
    assert "规则集第 1 版" in board and "默认规则" not in board
