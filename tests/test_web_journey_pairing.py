"""Journey (a), in a real browser against a real ``cobuild serve``, through taps and typing
only: the agency finds the village by name and proposes; the village accepts and signs; the
agency signs and records an activity; the village co-signs it from 待办; the agency's pairing
page shows the pairing in force with the activity co-signed; an activity the county enters
for the agency reads 「代录」 on the village's pairing page.  At phone and at desktop width,
a screenshot per step under tests/screenshots/<test>/."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.browser_support import browser_fixtures
from tests.evidence_support import png
from tests.web_journey_support import (
    activate, cast, choose, looked_at, press, sign_in, sign_out, tap,
)

pytestmark = pytest.mark.browser
globals().update(browser_fixtures())


def journey(server, page, phone: bool) -> None:
    cast(server)
    activate(page, server, "wangsj")
    activate(page, server, "lizs")

    # The agency: 结对 → 发起结对 → type part of the village's name → pick it → propose.
    sign_in(page, "wangsj")
    press(page, "结对")
    looked_at(page, "agency-pairings-empty", phone)
    press(page, "发起结对")
    page.fill("村（社区）名称", "石练")
    press(page, "搜索")
    text = looked_at(page, "agency-search", phone)
    assert "大柘镇石练村党支部" in text and "黄岩村" not in text
    tap(page, "大柘镇石练村党支部")
    looked_at(page, "agency-propose", phone)
    press(page, "发起结对")
    text = looked_at(page, "agency-proposed", phone)
    assert "已发起结对，等待对方接受" in text and "待接受" in text
    sign_out(page)

    # The village: 待办 → 接受结对 (tap 1) → 接受结对 (tap 2) → 签订协议 (tap 3).
    sign_in(page, "lizs")
    text = looked_at(page, "village-todo-accept", phone)
    assert "接受结对" in text and "遂昌县财政局机关党委" in text
    tap(page, "接受结对")
    looked_at(page, "village-pairing-proposed", phone)
    press(page, "接受结对")
    text = looked_at(page, "village-accepted", phone)
    assert "已接受结对" in text and "签订日期" in text
    press(page, "签订协议")
    text = looked_at(page, "village-signed", phone)
    assert "已签订共建协议" in text and "等待对方签订" in text
    sign_out(page)

    # The agency signs from its 待办, then records an activity.
    sign_in(page, "wangsj")
    tap(page, "签订共建协议")
    press(page, "签订协议")
    text = looked_at(page, "agency-in-force", phone)
    assert "履行中" in text
    press(page, "记录共建活动")
    looked_at(page, "agency-activity-form", phone)
    press(page, "提交活动记录")
    text = looked_at(page, "agency-activity-errors", phone)
    assert "请选择活动类型" in text and "请填写活动名称" in text
    choose(page, "活动类型", "联合组织生活")
    page.fill("活动名称", "联合主题党日：参观红色教育基地").fill("帮扶方人数", "6").fill("村（社区）人数", "9")
    photo = server.home.parent / "党日合影.png"
    photo.write_bytes(png(64, 48, (180, 20, 20)))
    page.driver.find_element("id", "f-evidence").send_keys(str(photo))
    press(page, "提交活动记录")
    text = looked_at(page, "agency-activity-recorded", phone)
    assert "活动已记录，等待对方确认" in text and "待对方确认" in text
    sign_out(page)

    # The village co-signs from 待办: the item (tap 1), 确认活动 (tap 2).
    sign_in(page, "lizs")
    tap(page, "确认活动")
    text = looked_at(page, "village-activity", phone)
    assert "联合主题党日：参观红色教育基地" in text and "帮扶方 6 人" in text
    assert "照片（1 KB）" in text  # the photo, drawn as a thumbnail by the browser
    assert page.driver.execute_script(
        "return [...document.querySelectorAll('.files img')].map(i => i.complete && i.naturalWidth)") == [64]
    press(page, "确认活动")
    text = looked_at(page, "village-cosigned", phone)
    assert "已确认活动" in text
    press(page, "待办")
    assert "确认活动" not in page.text
    looked_at(page, "village-todo-empty", phone)
    sign_out(page)

    # The agency sees it: in force, the activity co-signed, the whole history in Chinese.
    sign_in(page, "wangsj")
    press(page, "结对")
    text = looked_at(page, "agency-pairings", phone)
    assert "大柘镇石练村党支部" in text and "正常" in text
    tap(page, "大柘镇石练村党支部")
    text = looked_at(page, "agency-pairing-active", phone)
    assert "履行中" in text and "已确认" in text
    for event in ("发起结对", "接受结对", "签订共建协议", "记录共建活动", "确认共建活动"):
        assert event in text, event
    assert "李支书（大柘镇石练村党支部）" in text and "王书记（遂昌县财政局机关党委）" in text
    assert "补录" not in text and "代录" not in text

    # The county enters a visit for the agency (its secretary is away): the village's pairing
    # page marks that activity 「代录」 with who entered it for whom and why, and no other.
    pairing_id = page.path.split("?")[0].split("/")[2]
    giver = api(server, "GET", f"/pairings/{pairing_id}")["giver_id"]
    api(server, "POST", f"/pairings/{pairing_id}/activities", {
        "kind": "visit", "title": "春节走访慰问困难党员", "on_behalf_of": giver, "reason": WHY,
        "occurred_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    sign_out(page)
    sign_in(page, "lizs")
    press(page, "结对")
    tap(page, "遂昌县财政局机关党委")
    page.driver.execute_script("document.getElementById('activities').scrollIntoView();")
    looked_at(page, "village-pairing-proxy-activity", phone)
    rows = {title: row.text for row in page.driver.find_elements("css selector", "#activities li.item")
            for title in ("春节走访慰问困难党员", "联合主题党日：参观红色教育基地") if title in row.text}
    assert "代录" in rows["春节走访慰问困难党员"] and WHY in rows["春节走访慰问困难党员"]
    assert "代 遂昌县财政局机关党委 录入" in rows["春节走访慰问困难党员"]
    assert "代录" not in rows["联合主题党日：参观红色教育基地"]


WHY = "财政局书记外出培训，由县委组织部代录"


def api(server, method: str, path: str, body: dict | None = None) -> dict:
    """The county's operator on the JSON API with the admin's bearer token."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{server.base_url}/api/v1{path}", method=method,
        data=None if body is None else json.dumps(body).encode("utf-8"),
        headers={"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read().decode("utf-8"))


def test_journey_a_at_phone_width(server, phone):
    journey(server, phone, phone=True)


def test_journey_a_at_desktop_width(server, desktop):
    journey(server, desktop, phone=False)
