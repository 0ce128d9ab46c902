"""The desk journeys in a real browser against a real ``cobuild serve``, through taps and
typing only, at phone and at desktop width, a screenshot per step under
tests/screenshots/<test>/ (DESIGN §12):

(a) a township supervisor sees an idle pairing on the 联而不动 board, opens a follow-up case
    on it, the agency answers on the case's page, the supervisor reads the answer and closes
    the case, and it leaves the open cases;
(b) an evaluator computes the year's round, opens a pairing's record from the results, sees
    its history and that its evidence bundle verifies, and the downloaded bundle verifies
    offline too;
(c) an admin imports organisations from a CSV with a preview, creates a user and sees the
    activation code once, and gives an account made without a login its login.

The idle pairing is made by its dates: proposed, accepted and signed 200 days ago over the
JSON API by the two parties (the operator's setup), so no clock needs moving."""
from __future__ import annotations

import json
import re
import urllib.request
from datetime import date, timedelta

import pytest

from tests.browser_support import browser_fixtures
from tests.web_journey_support import (
    activate, activation_code, choose, looked_at, press, sign_in, sign_out, tap,
)
from workflows.audit.checkpoint import KeyDirectory
from workflows.audit.verifier import VerifierKey, verify_bundle

pytestmark = pytest.mark.browser
globals().update(browser_fixtures())

COUNTY = "331123"


def api(server, token: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        server.base_url + "/api/v1" + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def token_of(output: str) -> str:
    lines = output.splitlines()
    return lines[lines.index("token (shown once):") + 1].strip()


def world(server, *people: tuple[str, str, str | None, str | None, str]) -> dict[str, str]:
    """An agency and two villages of one township, an idle pairing signed 200 days ago, and
    ``people`` (name, role, organisation code, region, login) with their activation codes."""
    ids = {}
    for code, name, kind, region in (
            ("G1", "遂昌县财政局机关党委", "agency", "331123000000"),
            ("V1", "大柘镇石练村党支部", "village", "331123101201"),
            ("V2", "大柘镇黄岩村党支部", "village", "331123101202")):
        ids[code] = server.cobuild("orgs", "add", "--code", code, "--name", name, "--kind", kind,
                                   "--region-code", region).strip()
    tokens = {login: token_of(server.cobuild("users", "add", "--name", name, "--role", role,
                                             "--organisation", org))
              for name, role, org, login in (("王书记", "agency", "G1", "wang"),
                                             ("李支书", "village", "V1", "li"))}
    long_ago = date.today() - timedelta(days=200)
    at = f"{long_ago.isoformat()}T10:00:00+08:00"
    p = api(server, tokens["wang"], "/pairings", {
        "giver_id": ids["G1"], "receiver_id": ids["V1"], "term_start": long_ago.isoformat(),
        "term_end": (long_ago + timedelta(days=1000)).isoformat(), "occurred_at": at})
    api(server, tokens["li"], f"/pairings/{p['id']}/accept", {"occurred_at": at})
    for who in ("wang", "li"):
        api(server, tokens[who], f"/pairings/{p['id']}/sign-agreement", {"signed_on": long_ago.isoformat()})
    server.codes = {}
    for name, role, org, region, login in people:
        args = ["users", "add", "--name", name, "--role", role, "--login", login]
        args += ["--organisation", org] if org else ["--region-code", region]
        server.codes[login] = activation_code(server.cobuild(*args))
    return {"pairing": p["id"], **ids}


# -- (a) the supervisor ----------------------------------------------------------------------------

def journey_a(server, page, phone: bool) -> None:
    world(server, ("刘委员", "supervisor", None, COUNTY, "liuwy"),
          ("王书记", "agency", "G1", None, "wangsj"))
    activate(page, server, "liuwy")
    activate(page, server, "wangsj")

    sign_in(page, "liuwy")
    press(page, "联而不动")
    text = looked_at(page, "supervisor-board", phone)
    assert "大柘镇石练村党支部" in text and "遂昌县财政局机关党委" in text
    assert "严重" in text and "200 天没有确认的活动" in text
    choose(page, "乡镇（街道）", "大柘镇")
    press(page, "查看")
    text = looked_at(page, "supervisor-board-township", phone)
    assert "大柘镇 ·" in text and "大柘镇石练村党支部" in text
    press(page, "督办立案")
    looked_at(page, "supervisor-open-case", phone)
    press(page, "立案")
    text = looked_at(page, "supervisor-open-case-errors", phone)
    assert "请选择责任单位" in text and "请填写督办事项" in text
    choose(page, "责任单位", "遂昌县财政局机关党委")
    page.fill("督办事项", "结对半年多没有活动，请说明情况并安排活动。")
    press(page, "立案")
    text = looked_at(page, "supervisor-case-opened", phone)
    assert "已立案督办" in text and "还没有答复" in text
    case_path = page.path.split("?")[0]
    sign_out(page)

    # The agency answers on the case's page.
    sign_in(page, "wangsj")
    page.open(case_path)
    text = looked_at(page, "agency-case", phone)
    assert "结对半年多没有活动" in text and "答复督办" in text
    page.fill("答复内容", "本月 20 日到石练村开展联合主题党日。")
    press(page, "提交答复")
    text = looked_at(page, "agency-answered", phone)
    assert "已答复" in text
    sign_out(page)

    # The supervisor reads the answer and closes the case.
    sign_in(page, "liuwy")
    press(page, "督办")
    text = looked_at(page, "supervisor-cases", phone)
    assert "遂昌县财政局机关党委" in text and "已答复" in text
    tap(page, "事由：督办")  # the case opened by hand (the workflow opens its own too)
    text = looked_at(page, "supervisor-case-answered", phone)
    assert "本月 20 日到石练村开展联合主题党日。" in text
    choose(page, "处理结果", "已解决")
    page.fill("结案理由", "已安排活动，情况已说明。")
    press(page, "结案")
    text = looked_at(page, "supervisor-case-closed", phone)
    assert "督办已结案" in text and "已解决" in text
    press(page, "督办")
    text = looked_at(page, "supervisor-cases-after", phone)
    assert "已答复 0 件" in text  # the answered case, closed, has left the open cases
    press(page, "覆盖")
    text = looked_at(page, "supervisor-coverage", phone)
    assert "大柘镇" in text and "薄弱村" in text


def test_journey_a_supervisor_at_phone_width(server, phone):
    journey_a(server, phone, phone=True)


def test_journey_a_supervisor_at_desktop_width(server, desktop):
    journey_a(server, desktop, phone=False)


# -- (b) the evaluator -----------------------------------------------------------------------------

def journey_b(server, page, phone: bool) -> None:
    world(server, ("孙组长", "evaluator", None, COUNTY, "sunzz"))
    server.cobuild("evaluation", "open", "--year", str(date.today().year), "--region", COUNTY)
    activate(page, server, "sunzz")
    sign_in(page, "sunzz")
    press(page, "考核")
    text = looked_at(page, "evaluator-rounds", phone)
    assert f"{date.today().year} 年度考核" in text
    tap(page, f"{date.today().year} 年度考核")
    looked_at(page, "evaluator-round", phone)
    press(page, "计算得分")
    text = looked_at(page, "evaluator-round-computed", phone)
    assert "已计算得分" in text and "发展业绩好" in text and "不排名次" in text
    tap(page, "大柘镇石练村党支部")
    text = looked_at(page, "evaluator-record", phone)
    assert "结对档案" in text and re.search(r"已验证：共 \d+ 条事件，完整，未被篡改", text)
    for event in ("发起结对", "接受结对", "签订共建协议"):
        assert event in text
    # The file behind 下载证据包 verifies offline with the log's verifier key.
    link = page.driver.find_element("xpath", "//a[normalize-space()='下载证据包']").get_attribute("href")
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.driver.get_cookies())
    with urllib.request.urlopen(urllib.request.Request(link, headers={"Cookie": cookie}), timeout=60) as f:
        bundle = json.loads(f.read())
    key = VerifierKey.parse(KeyDirectory(server.home / "keys").vkey_path.read_text())
    assert verify_bundle(bundle, key, require_complete=True).ok
    press(page, "台账")
    text = looked_at(page, "evaluator-ledgers", phone)
    assert "承诺台账" in text and "下载 Excel（XLSX）" in text


def test_journey_b_evaluator_at_phone_width(server, phone):
    journey_b(server, phone, phone=True)


def test_journey_b_evaluator_at_desktop_width(server, desktop):
    journey_b(server, desktop, phone=False)


# -- (c) the admin ---------------------------------------------------------------------------------

CSV = ("code,name,kind,region_code\n"
       "V7,大柘镇新塘村党支部,village,331123101207\n"
       "G7,遂昌县教育局机关党委,agency,331123000000\n")


def journey_c(server, page, phone: bool, tmp_path) -> None:
    world(server, ("周部长", "admin", None, COUNTY, "zhoubz"))
    activate(page, server, "zhoubz")
    sign_in(page, "zhoubz")
    press(page, "组织")
    text = looked_at(page, "admin-organisations", phone)
    assert "大柘镇石练村党支部" in text
    press(page, "批量导入")
    looked_at(page, "admin-import", phone)
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV + "V7,重复的村,village,331123101208\n", encoding="utf-8-sig")
    page.driver.find_element("id", "f-file").send_keys(str(bad))
    press(page, "预览")
    text = looked_at(page, "admin-import-errors", phone)
    assert "没有导入任何一行" in text and "第 4 行：组织代码与第 2 行重复" in text
    good = tmp_path / "good.csv"
    good.write_text(CSV, encoding="utf-8-sig")
    page.driver.find_element("id", "f-file").send_keys(str(good))
    press(page, "预览")
    text = looked_at(page, "admin-import-preview", phone)
    assert "共 2 行，全部检查通过" in text and "大柘镇新塘村党支部" in text
    press(page, "确认导入（全部 2 行）")
    text = looked_at(page, "admin-imported", phone)
    assert "已导入 2 个党组织" in text and "遂昌县教育局机关党委" in text

    press(page, "用户")
    looked_at(page, "admin-users", phone)
    page.fill("姓名", "陈支书")
    choose(page, "角色", "村（社区）")
    page.fill("所属党组织", "大柘镇新塘村党支部")
    page.fill("登录名", "chenzs")
    press(page, "创建并生成激活码")
    text = looked_at(page, "admin-user-created", phone)
    assert "已创建用户 陈支书" in text and "只显示这一次" in text
    code = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", text).group(0)
    page.fill("按登录名查找", "chenzs")
    press(page, "查找")
    text = looked_at(page, "admin-user-found", phone)
    assert "陈支书" in text and code not in text  # the code is shown once only
    # 王书记's account was made without a login (by the operator, for the API): the list
    # leads to giving it one, its code shown once.
    press(page, "用户")
    tap(page, "设置登录名或停用")
    text = looked_at(page, "admin-user-without-login", phone)
    assert "王书记" in text and "还没有登录名" in text
    page.fill("本账号的登录名", "wangsj")
    press(page, "设置登录名并生成激活码")
    text = looked_at(page, "admin-login-given", phone)
    assert "已为 王书记 设置登录名" in text and "wangsj" in text and "只显示这一次" in text
    sign_out(page)
    # The new clerk activates the account with that code and signs in.
    server.codes["chenzs"] = code
    activate(page, server, "chenzs")
    sign_in(page, "chenzs")


def test_journey_c_admin_at_phone_width(server, phone, tmp_path):
    journey_c(server, phone, True, tmp_path)


def test_journey_c_admin_at_desktop_width(server, desktop, tmp_path):
    journey_c(server, desktop, False, tmp_path)
