"""Journey (b), in a real browser against a real ``cobuild serve``, through taps and typing
only: the village raises a need; the agency finds it under 需求, claims, plans and delivers
it; the village confirms the delivery from 待办 in at most three taps and rates it; the
agency sees it confirmed.  At phone and at desktop width, a screenshot per step."""
from __future__ import annotations

import pytest

from tests.browser_support import browser_fixtures
from tests.web_journey_support import (
    activate, cast, choose, looked_at, press, sign_in, sign_out, tap,
)
from workflows.tasks import TaskCommands

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not hasattr(TaskCommands, "visible_beyond_parties"), reason=(
        "the engine does not yet show an agency the needs of its villages (worktree acts, "
        "workflows/tasks.py)")),
]
globals().update(browser_fixtures())


def pairing_in_force(server, page, phone: bool) -> None:
    """The pairing both sides signed, through the pages (journey (a) looks at each step)."""
    sign_in(page, "wangsj")
    press(page, "结对")
    press(page, "发起结对")
    page.fill("村（社区）名称", "石练")
    press(page, "搜索")
    tap(page, "大柘镇石练村党支部")
    press(page, "发起结对")
    sign_out(page)
    sign_in(page, "lizs")
    tap(page, "接受结对")
    press(page, "接受结对")
    press(page, "签订协议")
    sign_out(page)
    sign_in(page, "wangsj")
    tap(page, "签订共建协议")
    press(page, "签订协议")
    sign_out(page)


def journey(server, page, phone: bool) -> None:
    cast(server)
    activate(page, server, "wangsj")
    activate(page, server, "lizs")
    pairing_in_force(server, page, phone)

    # The village raises a need under 需求.
    sign_in(page, "lizs")
    press(page, "需求")
    text = looked_at(page, "village-needs-empty", phone)
    assert "还没有提出需求" in text
    tap(page, "提出需求")
    press(page, "提交需求")
    text = looked_at(page, "village-need-errors", phone)
    assert "请选择需求类别" in text and "请填写需求名称" in text
    choose(page, "需求类别", "基础设施")
    page.fill("需求名称", "村口路灯维修").fill("具体情况", "村口到文化礼堂 12 盏路灯不亮")
    press(page, "提交需求")
    text = looked_at(page, "village-need-raised", phone)
    assert "需求已提出" in text and "待认领" in text
    sign_out(page)

    # The agency finds it under 需求, claims it, plans it and reports the delivery.
    sign_in(page, "wangsj")
    press(page, "需求")
    text = looked_at(page, "agency-needs", phone)
    assert "可认领的需求" in text and "村口路灯维修" in text
    tap(page, "村口路灯维修")
    press(page, "认领需求")
    text = looked_at(page, "agency-claimed", phone)
    assert "已认领需求" in text
    page.fill("预算（元）", "五千")
    press(page, "确定立项")
    text = looked_at(page, "agency-plan-error", phone)
    assert "预算（元）请填写金额数字" in text
    page.fill("预算（元）", "5000")
    page.driver.execute_script(
        "document.getElementById('f-due_on').value = arguments[0];",
        page.driver.execute_script("return new Date(Date.now() + 30*864e5).toISOString().slice(0,10)"))
    press(page, "确定立项")
    text = looked_at(page, "agency-planned", phone)
    assert "已立项" in text
    page.fill("交付价值（元）", "4800").fill("交付说明", "已更换 12 盏路灯")
    press(page, "报告交付")
    text = looked_at(page, "agency-delivered", phone)
    assert "已报告交付" in text and "4,800.00 元" in text
    sign_out(page)

    # The village confirms from 待办: the item (tap 1), 确认交付 (tap 2); then rates it.
    sign_in(page, "lizs")
    text = looked_at(page, "village-todo-confirm", phone)
    assert "确认交付" in text and "村口路灯维修" in text
    tap(page, "确认交付")
    text = looked_at(page, "village-delivery", phone)
    assert "遂昌县财政局机关党委 报告已交付" in text
    press(page, "确认交付")
    text = looked_at(page, "village-confirmed", phone)
    assert "已确认交付" in text and "请评价满意度" in text
    press(page, "满意")
    text = looked_at(page, "village-rated", phone)
    assert "已评价满意度" in text
    sign_out(page)

    # The agency sees it confirmed and rated, with its history.
    sign_in(page, "wangsj")
    press(page, "需求")
    tap(page, "村口路灯维修")
    text = looked_at(page, "agency-sees-confirmed", phone)
    assert "已评价" in text and "满意度" in text
    for event in ("提出需求", "认领需求", "项目立项", "报告交付", "确认交付", "评价满意度"):
        assert event in text, event


def test_journey_b_at_phone_width(server, phone):
    journey(server, phone, phone=True)


def test_journey_b_at_desktop_width(server, desktop):
    journey(server, desktop, phone=False)
