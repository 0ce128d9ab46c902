"""A person's first day, in a real browser against a real ``cobuild serve``.

The organisation department creates the account on the command line and hands over the
login and activation code; the village secretary, on a phone, activates the account, signs
in, finds the pairing waiting on 待办, and signs out.  Screenshots of every step are saved
under tests/screenshots/<test>/ for a person to look at.
"""
from __future__ import annotations

import re

import pytest
import requests

from tests.browser_support import browser_fixtures

pytestmark = pytest.mark.browser
globals().update(browser_fixtures())

PASSWORD = "石练村2025春"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-")


def activation_code(output: str) -> str:
    lines = output.splitlines()
    return lines[[i for i, line in enumerate(lines) if "activation code" in line][0] + 1].strip()


def agency_proposes(server, village_id: str) -> None:
    """Before the journey: an agency proposes a pairing to the village (through the JSON API,
    as its clerk's software would), so that something waits on the village's 待办."""
    api = f"{server.base_url}/api/v1"

    def post(path: str, body: dict, token: str) -> dict:
        answer = requests.post(api + path, json=body, timeout=30,
                               headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 201, answer.text
        return answer.json()

    admin = server.admin_token
    giver = post("/organisations", {"code": "G1", "name": "遂昌县财政局机关党委", "kind": "agency",
                                    "region_code": "331123000000"}, admin)
    clerk = post("/users", {"name": "王书记", "role": "agency", "organisation_id": giver["id"]}, admin)
    post("/pairings", {"giver_id": giver["id"], "receiver_id": village_id,
                       "term_start": "2026-01-01", "term_end": "2028-12-31"}, clerk["token"])


def test_a_village_secretary_activates_signs_in_finds_todo_and_signs_out(server, phone, desktop):
    village_id = server.cobuild("orgs", "add", "--code", "V1", "--name", "大柘镇石练村党支部", "--kind", "village",
                   "--region-code", "331123101201").strip()
    added = server.cobuild("users", "add", "--name", "李支书", "--role", "village",
                           "--organisation", "V1", "--login", "lizs")
    code = activation_code(added)
    agency_proposes(server, village_id)

    # Signed out, the site opens on 登录.
    phone.open("/")
    assert phone.path.startswith("/login")
    assert "登录名" in phone.text and "激活账号" in phone.text
    phone.shot("sign-in")
    assert phone.fits()
    assert phone.serious_accessibility_problems() == []

    # First time: activate with the code from the admin.  A slip first, then right.
    phone.press("激活账号")
    assert phone.path.startswith("/activate")
    phone.fill("登录名", "LiZS").fill("激活码", code.lower())
    phone.fill("设置密码", PASSWORD).fill("再输一次密码", PASSWORD + "1")
    phone.press("激活并设置密码")
    assert "两次输入的密码不一致" in phone.text
    phone.shot("activate-mismatch")
    assert phone.fits()
    assert phone.serious_accessibility_problems() == []
    phone.fill("激活码", code).fill("设置密码", PASSWORD).fill("再输一次密码", PASSWORD)
    phone.press("激活并设置密码")
    assert phone.path.startswith("/login") and "密码已设置" in phone.text
    phone.shot("activated")

    # Sign in: 待办 is the first page, with the pairing to accept.
    phone.fill("登录名", "lizs").fill("密码", PASSWORD)
    phone.press("登录")
    assert phone.path == "/todo"
    text = phone.text
    assert "待办" in text and "接受结对" in text and "遂昌县财政局机关党委" in text
    assert "李支书" in text and not UUID_TEXT.search(text)
    tabs = phone.driver.execute_script(
        "const r = document.querySelector('nav.tabs').getBoundingClientRect();"
        "return [r.bottom, window.innerHeight, r.width, window.innerWidth];")
    assert tabs[0] == tabs[1] and tabs[2] == tabs[3]  # the tab bar sits along the bottom
    phone.shot("todo")
    assert phone.fits()
    assert phone.serious_accessibility_problems() == []

    # The same person at a desk sees the same 待办, with the tabs under the header.
    desktop.open("/login").fill("登录名", "lizs").fill("密码", PASSWORD)
    desktop.press("登录")
    assert desktop.path == "/todo" and "接受结对" in desktop.text
    desktop.shot("todo")
    assert desktop.serious_accessibility_problems() == []

    # Sign out on the phone: back to 登录, and 待办 is closed again.
    phone.press("退出登录")
    assert phone.path.startswith("/login") and "你已退出登录" in phone.text
    phone.shot("signed-out")
    phone.open("/todo")
    assert phone.path.startswith("/login")
