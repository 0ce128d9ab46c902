"""Journeys in a real browser against a real ``cobuild serve``, through taps and typing only,
at phone and at desktop width, a screenshot per step under tests/screenshots/<test>/
(DESIGN §12):

(r) the county's admin opens the year's round on 考核 (a year to come is said beside the
    field, nothing opened); the village
    rates the agency from its 待办 (a blank score is said beside its field), the item leaves
    its 待办, and its 消息 tell it what the agency did; the agency rates the village the same
    way; the evaluator lands on 待办 and finds the round to compute there; the township's
    supervisor lands on 待办 and has 消息 in the tab bar;
(x) an admin imports organisations from an XLSX workbook (a file that is no workbook is said
    beside the file field, nothing written), then the names of the county and its townships
    (区划名称: a bad row said by its line, nothing written; a workbook previewed and
    confirmed), and finds the region's users listed with their login, role, organisation and
    state, and acts on one from the list; the county's supervisor then picks the township by
    its recorded name on the 联而不动 board."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest

from tests.browser_support import browser_fixtures
from tests.test_web_desk_journeys import COUNTY, world
from tests.web_journey_support import activate, choose, looked_at, press, sign_in, sign_out, tap

pytestmark = pytest.mark.browser
globals().update(browser_fixtures())

SCORES = {"思想作风好": "90", "工作机制好": "85", "团结协作好": "88", "发展业绩好": "80", "群众反映好": "92"}


def rate_from_todo(page, phone: bool, who: str, other: str) -> None:
    text = looked_at(page, f"{who}-todo", phone)
    assert "结果联评" in text and other in text
    tap(page, "结果联评")
    text = looked_at(page, f"{who}-rate-form", phone)
    assert "思想作风好" in text and other in text
    for label, score in SCORES.items():
        if label != "团结协作好":
            page.fill(label, score)
    press(page, "提交评分")
    text = looked_at(page, f"{who}-rate-blank", phone)
    assert "请给「团结协作好」打分" in text and page.path.endswith("/rate")
    page.fill("团结协作好", "120")
    press(page, "提交评分")
    assert "「团结协作好」请填写 0 到 100 之间的整数" in page.text
    page.fill("团结协作好", SCORES["团结协作好"])
    press(page, "提交评分")
    text = looked_at(page, f"{who}-rated", phone)
    assert page.path.startswith("/todo") and "已提交联评评分" in text and "结果联评" not in text


def open_round_from_the_page(page, phone: bool) -> None:
    """The county's admin opens this year's round on 考核: a year to come is said beside the
    field (nothing opened), then this year's round opens."""
    year = date.today().year
    press(page, "考核")
    tap(page, "开启年度考核")
    text = looked_at(page, "admin-round-form", phone)
    assert "考核年度" in text and "考核范围" in text and "近五年没有年度考核" in text
    page.fill("考核年度", str(year + 1))
    press(page, "开启考核")
    text = looked_at(page, "admin-round-year-to-come", phone)
    assert f"考核年度请填写 2000 到 {year} 之间的年份" in page.driver.find_element("id", "e-year").text
    assert "近五年没有年度考核" in text
    page.fill("考核年度", str(year))
    press(page, "开启考核")
    text = looked_at(page, "admin-round-opened", phone)
    assert "已开启年度考核" in text and f"{year} 年度考核" in text


def journey_r(server, page, phone: bool) -> None:
    world(server, ("李文书", "village", "V1", None, "liws"), ("王科长", "agency", "G1", None, "wangkz"),
          ("孙组长", "evaluator", None, COUNTY, "sunzz"), ("刘委员", "supervisor", None, f"{COUNTY}101", "liuwy"),
          ("周部长", "admin", None, COUNTY, "zhoubz"))
    activate(page, server, "zhoubz")
    sign_in(page, "zhoubz")
    open_round_from_the_page(page, phone)
    sign_out(page)

    activate(page, server, "liws")
    sign_in(page, "liws")
    tabs = page.driver.find_element("css selector", "nav.tabs").text
    assert "消息" in tabs and re.search(r"消息\s*[0-9]", tabs), tabs  # unread: the agency's acts
    rate_from_todo(page, phone, "village", "遂昌县财政局机关党委")
    tap(page, "消息")
    text = looked_at(page, "village-messages", phone)
    assert "发起结对" in text and "签订共建协议" in text and "新消息" in text
    assert "对方：遂昌县财政局机关党委" in text
    assert not re.search(r"消息\s*[0-9]", page.driver.find_element("css selector", "nav.tabs").text)
    sign_out(page)

    activate(page, server, "wangkz")
    sign_in(page, "wangkz")
    rate_from_todo(page, phone, "agency", "大柘镇石练村党支部")
    sign_out(page)

    activate(page, server, "sunzz")
    sign_in(page, "sunzz")  # lands on 待办
    text = looked_at(page, "evaluator-todo", phone)
    assert "计算考核得分" in text and f"{date.today().year} 年度考核" in text
    tap(page, "计算考核得分")
    text = looked_at(page, "evaluator-round", phone)
    assert "计算得分" in text
    sign_out(page)

    activate(page, server, "liuwy")
    sign_in(page, "liuwy")  # lands on 待办
    tabs = page.driver.find_element("css selector", "nav.tabs").text
    assert "待办" in tabs and "消息" in tabs and "联而不动" in tabs
    looked_at(page, "supervisor-todo", phone)
    tap(page, "消息")
    text = looked_at(page, "supervisor-messages", phone)
    assert "暂无消息" in text
    press(page, "联而不动")
    looked_at(page, "supervisor-board", phone)


def test_journey_r_rating_at_phone_width(server, phone):
    journey_r(server, phone, True)


def test_journey_r_rating_at_desktop_width(server, desktop):
    journey_r(server, desktop, False)


# -- (x) the admin: an XLSX import, the users listed ----------------------------------------------

def workbook(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def journey_x(server, page, phone: bool, tmp_path) -> None:
    world(server, ("周部长", "admin", None, COUNTY, "zhoubz"), ("李文书", "village", "V1", None, "liws"),
          ("吴督办", "supervisor", None, COUNTY, "wudb"))
    activate(page, server, "zhoubz")
    sign_in(page, "zhoubz")
    press(page, "组织")
    press(page, "批量导入")
    not_a_book = tmp_path / "组织名单.xlsx"
    not_a_book.write_bytes(b"PK\x03\x04 this is no workbook")
    page.driver.find_element("id", "f-file").send_keys(str(not_a_book))
    press(page, "预览")
    text = looked_at(page, "admin-import-not-a-workbook", phone)
    assert "不是 Excel 工作簿" in page.driver.find_element("id", "e-file").text
    good = tmp_path / "新组织.xlsx"
    good.write_bytes(workbook([["组织代码", "名称", "类型", "区划代码"],
                               ["V7", "大柘镇新塘村党支部", "村", "331123101207"],
                               ["G7", "遂昌县教育局机关党委", "机关", "331123000000"]]))
    page.driver.find_element("id", "f-file").send_keys(str(good))
    press(page, "预览")
    text = looked_at(page, "admin-import-xlsx-preview", phone)
    assert "共 2 行，全部检查通过" in text and "大柘镇新塘村党支部" in text
    press(page, "确认导入（全部 2 行）")
    text = looked_at(page, "admin-imported-xlsx", phone)
    assert "已导入 2 个党组织" in text and "遂昌县教育局机关党委" in text

    # 区划名称: the county and its townships by name, so supervisors see real townships.
    press(page, "区划名称")
    bad = tmp_path / "区划.csv"
    bad.write_text("区划代码,名称\n331123,遂昌县\n3311231,城关镇\n", encoding="utf-8")
    page.driver.find_element("id", "f-file").send_keys(str(bad))
    press(page, "预览")
    text = looked_at(page, "admin-regions-bad-row", phone)
    assert "没有导入任何一行" in text and "第 3 行：区划代码应为" in text
    names = tmp_path / "区划名称.xlsx"
    names.write_bytes(workbook([["区划代码", "名称"], ["331123", "遂昌县"],
                                ["331123101000", "大柘镇"], ["331123102", "金竹镇"]]))
    page.driver.find_element("id", "f-file").send_keys(str(names))
    press(page, "预览")
    text = looked_at(page, "admin-regions-preview", phone)
    assert "共 3 行，全部检查通过" in text and "乡镇（街道）" in text and "新增" in text
    press(page, "确认导入（全部 3 行）")
    text = looked_at(page, "admin-regions-named", phone)
    assert "已登记 3 个区划名称" in text and "金竹镇" in text and "遂昌县" in text
    press(page, "党组织")
    text = looked_at(page, "admin-organisations-by-township", phone)
    assert "所在地区" in text

    press(page, "用户")
    text = looked_at(page, "admin-users-list", phone)
    assert "本地区的用户" in text and "李文书" in text and "登录名 liws" in text and "最近变更" in text
    tap(page, "重置密码或停用：李文书")
    text = looked_at(page, "admin-user-from-list", phone)
    assert "李文书" in text and "liws" in text
    tap(page, "重置密码或停用")
    page.fill("原因", "人员调动")
    press(page, "停用账号")
    text = looked_at(page, "admin-user-deactivated", phone)
    assert "已停用" in text
    sign_out(page)

    activate(page, server, "wudb")
    sign_in(page, "wudb")
    press(page, "联而不动")
    text = looked_at(page, "supervisor-board-township-names", phone)
    assert "遂昌县（全部）" in text
    choose(page, "乡镇（街道）", "大柘镇")
    press(page, "查看")
    text = looked_at(page, "supervisor-board-township-chosen", phone)
    assert "大柘镇" in text and "大柘镇石练村党支部" in text


def test_journey_x_admin_xlsx_and_users_at_phone_width(server, phone, tmp_path):
    journey_x(server, phone, True, tmp_path)


def test_journey_x_admin_xlsx_and_users_at_desktop_width(server, desktop, tmp_path):
    journey_x(server, desktop, False, tmp_path)
