"""What the journeys of villages and agencies share: the people (created by the operator on
the command line, activated through the pages), signing in and out, tapping a 待办 item, and
the checks every page gets (fits a phone, no serious accessibility problem, no English code,
no UUID, no UTC time)."""
from __future__ import annotations

import re

from tests.browser_support import Page, Server, left

PASSWORD = "石练村2025春"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-")
# Codes that would mean a page shows the engine's words instead of a person's.
CODES = re.compile(r"\b(in_force|proposed|accepted|cosigned|recorded|delivered|confirmed|pooled|"
                   r"joint_org_life|infrastructure|satisfied|giver|receiver|UTC|None)\b")


def activation_code(output: str) -> str:
    lines = output.splitlines()
    return lines[[i for i, line in enumerate(lines) if "activation code" in line][0] + 1].strip()


def cast(server: Server) -> None:
    """A county's agency and village, a second village of another name, and their clerks."""
    for code, name, kind, region in (
            ("G1", "遂昌县财政局机关党委", "agency", "331123000000"),
            ("V1", "大柘镇石练村党支部", "village", "331123101201"),
            ("V2", "大柘镇黄岩村党支部", "village", "331123101202")):
        server.cobuild("orgs", "add", "--code", code, "--name", name, "--kind", kind,
                       "--region-code", region)
    server.codes = {}
    for name, role, org, login in (("王书记", "agency", "G1", "wangsj"),
                                   ("李支书", "village", "V1", "lizs")):
        out = server.cobuild("users", "add", "--name", name, "--role", role, "--organisation",
                             org, "--login", login)
        server.codes[login] = activation_code(out)


def activate(page: Page, server: Server, login: str) -> None:
    page.open("/activate")
    page.fill("登录名", login).fill("激活码", server.codes[login])
    page.fill("设置密码", PASSWORD).fill("再输一次密码", PASSWORD)
    page.press("激活并设置密码")
    assert "密码已设置" in page.text


def sign_in(page: Page, login: str) -> None:
    page.open("/login").fill("登录名", login).fill("密码", PASSWORD)
    page.press("登录")
    assert page.path == "/todo", page.path


def sign_out(page: Page) -> None:
    page.press("退出登录")
    assert page.path.startswith("/login")


def press(page: Page, words: str) -> None:
    """Tap the button or link that says ``words`` (scrolled to the middle of the screen
    first, as a thumb scrolls it clear of the tab bar)."""
    tap(page, words, exact=True)


def tap(page: Page, words: str, exact: bool = False) -> None:
    """Tap the link or button (the first visible one) whose text contains ``words``, as a
    person taps a 待办 item by its words."""
    from selenium.webdriver.support.ui import WebDriverWait

    test = f"normalize-space()='{words}'" if exact else f"contains(normalize-space(), '{words}')"
    found = [e for e in page.driver.find_elements(
        "xpath", f"//a[{test}] | //button[{test}] | //summary[{test}]") if e.is_displayed()]
    assert found, f"nothing to tap says {words!r} on {page.path}"
    old = page.driver.find_element("tag name", "html")
    page.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", found[0])
    opens_in_place = found[0].tag_name == "summary"
    found[0].click()
    if opens_in_place:
        return  # a section that opens in place: no new page
    WebDriverWait(page.driver, 20).until(lambda d: left(old))
    WebDriverWait(page.driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def choose(page: Page, label: str, words: str) -> Page:
    """Pick ``words`` in the drop-down whose label is ``label``."""
    from selenium.webdriver.support.ui import Select

    target = page.driver.find_element("xpath", f"//label[normalize-space()='{label}']")
    Select(page.driver.find_element("id", target.get_attribute("for"))).select_by_visible_text(words)
    return page


def looked_at(page: Page, name: str, phone: bool) -> str:
    """A screenshot of the page, and the checks every page passes; answers its text."""
    page.shot(name)
    text = page.text
    assert not UUID_TEXT.search(text), f"a UUID on {page.path}: {text}"
    assert not CODES.search(text), f"an English code on {page.path}: {CODES.search(text)}"
    if phone:
        assert page.fits(), f"{page.path} scrolls sideways at phone width"
    assert page.serious_accessibility_problems() == [], page.path
    return text
