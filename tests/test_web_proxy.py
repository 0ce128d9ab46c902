"""代录 on the pages (DESIGN §13: "proxy entry is shown as 代录 everywhere"): the rows a page
lists from a report (a pairing's commitments, the needs, 待办, the pairings' status) carry a
「代录」 tag and who entered what for whom and why; a row the party entered itself carries
neither.  Through Flask's test client, on the suite's store."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal

from tests.test_web_pages_acts import people, text, web  # noqa: F401

WHY = "财政局书记外出培训，由县委组织部代录"
NEED_WHY = "村支书不会用手机，由县委组织部代录"


def item_with(body: str, words: str) -> str:
    """The list item (``<li class="item">``) of a page that shows ``words``."""
    found = [li for li in re.findall(r'<li class="item">(.*?)</li>', body, re.S) if words in li]
    assert len(found) == 1, f"{words!r} in {len(found)} items"
    return found[0]


def test_a_proxy_entered_commitment_and_need_show_daolu_with_the_reason(engine, cast, people):  # noqa: F811
    p = cast.pairing_in_force()
    engine.make_commitment(cast.admin, p, "giver", "funds", "代录的承诺：修缮村文化礼堂",
                           date(2025, 12, 31), amount_yuan=Decimal("50000"),
                           on_behalf_of=cast.giver, reason=WHY)
    engine.make_commitment(cast.agency, p, "giver", "funds", "自己录入的承诺：捐赠图书",
                           date(2025, 12, 31), amount_yuan=Decimal("5000"))
    engine.raise_need(cast.admin, cast.village, "infrastructure", "代录的需求：路灯维修",
                      on_behalf_of=cast.village, reason=NEED_WHY)
    engine.raise_need(cast.villager, cast.village, "infrastructure", "自己提出的需求：修水渠")

    page = text(people["wangsj"].get(f"/pairings/{p}"))
    by_proxy = item_with(page, "代录的承诺")
    assert "代录" in by_proxy.replace("代录的承诺", "")
    assert WHY in by_proxy and "代 县财政局机关党委 录入" in by_proxy and "作出承诺" in by_proxy
    own = item_with(page, "自己录入的承诺")
    assert "代录" not in own and "原因" not in own

    for login in ("lizs", "wangsj"):  # the village's own needs; the agency's claimable ones
        page = text(people[login].get("/needs"))
        by_proxy = item_with(page, "代录的需求")
        assert "代录" in by_proxy.replace("代录的需求", "")
        assert NEED_WHY in by_proxy and "代 大柘镇石练村党支部 录入" in by_proxy
        own = item_with(page, "自己提出的需求")
        assert "代录" not in own and "原因" not in own


def test_an_activity_entered_for_the_agency_is_marked_in_the_village_s_todo(engine, cast, people):  # noqa: F811
    p = cast.pairing_in_force()
    when = datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc)
    engine.record_activity(cast.admin, p, "visit", "代录的走访", when,
                           on_behalf_of=cast.giver, reason=WHY)
    engine.record_activity(cast.agency, p, "meeting", "自己记录的座谈", when)
    page = text(people["lizs"].get("/todo"))
    by_proxy = item_with(page, "代录的走访")
    assert "代录" in by_proxy.replace("代录的走访", "")
    assert WHY in by_proxy and "代 县财政局机关党委 录入" in by_proxy
    own = item_with(page, "自己记录的座谈")
    assert "代录" not in own and "原因" not in own


def test_the_pairings_status_counts_co_signed_activities_a_proxy_entered(engine, cast, people):  # noqa: F811
    p = cast.pairing_in_force()
    when = datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc)
    made = engine.record_activity(cast.admin, p, "visit", "代录的走访", when,
                                  on_behalf_of=cast.giver, reason=WHY)
    engine.cosign_activity(cast.villager, p, made.details["activity_id"])
    page = text(people["wangsj"].get("/pairings"))
    row = item_with(page, "大柘镇石练村党支部")
    assert "代录" in row and "1 项已确认的活动由他人代录" in row
    engine.record_activity(cast.agency, p, "meeting", "自己记录的座谈", when)
    assert "1 项已确认的活动由他人代录" in item_with(text(people["wangsj"].get("/pairings")),
                                                 "大柘镇石练村党支部")


def test_acts_on_the_pairing_and_its_activities_a_proxy_entered_show_daolu_where_they_are_shown(
        engine, cast, people):  # noqa: F811
    """The proposal and a signature entered for the agency by the county, and one activity:
    each shows 「代录」 and who entered it for whom and why — in the village's 待办 (the
    pairing to accept), on the pairing's facts beside the signature, on the activity's row
    and page, and on the status row of 结对; the acts each side entered itself show none."""
    proposed = engine.propose_pairing(cast.admin, cast.giver, cast.village, date(2025, 1, 1),
                                      date(2027, 12, 31), on_behalf_of=cast.giver, reason=WHY)
    p = proposed.id
    todo = item_with(text(people["lizs"].get("/todo")), "县财政局机关党委")
    assert "代录" in todo and "发起结对" in todo and WHY in todo
    engine.accept_pairing(cast.villager, p)
    engine.sign_agreement(cast.admin, p, engine.today(), on_behalf_of=cast.giver, reason=WHY)
    engine.sign_agreement(cast.villager, p, engine.today())
    when = datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc)
    made = engine.record_activity(cast.admin, p, "visit", "代录的走访", when,
                                  on_behalf_of=cast.giver, reason=WHY)
    engine.record_activity(cast.agency, p, "meeting", "自己记录的座谈", when)

    page = text(people["lizs"].get(f"/pairings/{p}"))
    card = page.split('<section id="activities">')[0]
    words = re.findall(r'<span class="item-body proxy"><span>([^<]*)</span>', card)
    assert len(words) == 2, words
    assert words[0].startswith("发起结对：") and words[1].startswith("签订共建协议：")
    assert all("代 县财政局机关党委 录入" in w and WHY in w for w in words)
    giver_signed = re.search(r"<dt>帮扶方签约</dt><dd>(.*?)</dd>", card, re.S).group(1)
    village_signed = re.search(r"<dt>受援方签约</dt><dd>(.*?)</dd>", card, re.S).group(1)
    assert "代录" in giver_signed and "代录" not in village_signed

    by_proxy = item_with(page, "代录的走访")
    assert "代录" in by_proxy.replace("代录的走访", "")
    assert "记录共建活动：" in by_proxy and "代 县财政局机关党委 录入" in by_proxy and WHY in by_proxy
    own = item_with(page, "自己记录的座谈")
    assert "代录" not in own and "原因" not in own

    activity = text(people["lizs"].get(f"/pairings/{p}/activities/{made.details['activity_id']}"))
    assert "代录" in activity.replace("代录的走访", "") and WHY in activity

    row = item_with(text(people["wangsj"].get("/pairings")), "大柘镇石练村党支部")
    assert "代录" in row and "发起结对：" in row and "签订共建协议：" in row and WHY in row
    # The timeline says why too, beside who entered it for whom.
    history = page.split('<section id="history">')[1]
    assert history.count(f"代 县财政局机关党委 录入，原因：{WHY}") == 3


def test_a_pairing_whose_parties_did_everything_themselves_shows_no_daolu(engine, cast, people):  # noqa: F811
    p = cast.pairing_in_force()
    engine.record_activity(cast.agency, p, "meeting", "自己记录的座谈",
                           datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc))
    page = text(people["lizs"].get(f"/pairings/{p}"))
    assert "代录" not in page.split('<section id="history">')[0]
    assert "代录" not in text(people["wangsj"].get("/pairings"))
