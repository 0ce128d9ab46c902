"""Sign-in pages through Flask's test client: sessions, CSRF, throttling, and sessions that
end when the account changes (docs/web.md, docs/decisions.md)."""
from __future__ import annotations

import re
import stat
from datetime import date

import pytest

from api.web.auth import WebState
from api.web.security import SECRET_FILE, secret_key
from domain.user import User
from tests.api_support import rebind

PASSWORD = "石练村2025春"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """One person's cookie jar on the test client, speaking through forms as a page does."""

    def __init__(self, app, base_url: str = "http://localhost") -> None:
        self.client = app.test_client()
        self.base_url = base_url

    def get(self, path: str):
        return self.client.get(path, base_url=self.base_url)

    def token(self, path: str = "/login") -> str:
        match = _CSRF.search(self.get(path).get_data(as_text=True))
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, data: dict, csrf: bool = True, **kwargs):
        form = dict(data)
        if csrf:
            form["csrf_token"] = self.token(path if path != "/logout" else "/me")
        return self.client.post(path, data=form, base_url=self.base_url, **kwargs)

    def sign_in(self, login: str = "zhangkj", password: str = PASSWORD):
        return self.post("/login", {"login": login, "password": password})


@pytest.fixture
def web(app, engine, settings, cast):
    """The module's app on this test's fresh store, with fresh throttles."""
    rebind(app, engine, settings)
    app.extensions["cobuild.web"] = WebState()
    return app


@pytest.fixture
def person(engine, cast):
    """张会计 of 石练村, activated: (user id, login)."""
    outcome, _ = engine.register_user(cast.admin, "张会计", "village", cast.village, login="zhangkj")
    engine.activate_account("zhangkj", outcome.details["activation_code"], PASSWORD)
    return outcome.id


def text(response) -> str:
    return response.get_data(as_text=True)


def test_signed_out_people_are_sent_to_the_chinese_sign_in_page(web):
    browser = Browser(web)
    answer = browser.get("/")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    page = browser.get("/login")
    body = text(page)
    assert page.status_code == 200 and '<html lang="zh-CN">' in body
    assert "登录名" in body and "密码" in body
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    todo = browser.get("/todo")
    assert todo.status_code == 302 and "/login?next=/todo" in todo.headers["Location"]


def test_signing_in_lands_on_todo_with_a_safe_cookie(web, person):
    browser = Browser(web)
    answer = browser.sign_in(" ZhangKJ ")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/todo")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = browser.get("/todo")
    assert page.status_code == 200 and "待办" in text(page) and "张会计" in text(page)
    assert browser.get("/").headers["Location"].endswith("/todo")


def test_over_https_the_cookie_is_secure(web, person):
    answer = Browser(web, "https://localhost").sign_in()
    assert answer.status_code == 302 and "Secure" in answer.headers["Set-Cookie"]


def test_sign_in_goes_back_only_to_a_page_of_this_site(web, person):
    for target, expected in (("/me", "/me"), ("//evil.example/x", "/todo"),
                             ("https://evil.example/", "/todo")):
        browser = Browser(web)
        form = {"login": "zhangkj", "password": PASSWORD, "csrf_token": browser.token()}
        answer = browser.client.post(f"/login?next={target}", data=form)
        assert answer.headers["Location"] == expected or answer.headers["Location"].endswith(expected)
        assert "evil" not in answer.headers["Location"]


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(web, engine, cast):
    outcome, _ = engine.register_user(cast.admin, "赵文书", "village", cast.village, login="zhaows")
    code = outcome.details["activation_code"]
    before = engine.load(User, outcome.id).version
    browser = Browser(web)
    browser.get("/activate")  # the session and its token exist; the form just lacks it
    for form in ({}, {"csrf_token": "forged"}):
        answer = browser.client.post("/activate", data={
            "login": "zhaows", "code": code, "password": PASSWORD, "password2": PASSWORD, **form})
        assert answer.status_code == 400 and "页面已过期" in text(answer)
    assert engine.load(User, outcome.id).version == before
    engine.activate_account("zhaows", code, PASSWORD)
    answer = browser.post("/login", {"login": "zhaows", "password": PASSWORD}, csrf=False)
    assert answer.status_code == 400
    assert browser.get("/todo").status_code == 302  # not signed in


def test_the_wrong_password_reads_like_an_unknown_login_and_is_throttled(web, person):
    browser = Browser(web)
    unknown = text(browser.sign_in("nobody", PASSWORD))
    assert "登录名或密码不正确" in unknown
    for _ in range(5):
        answer = browser.sign_in(password="不是这个密码abc")
        assert answer.status_code == 200 and "登录名或密码不正确" in text(answer)
    refused = browser.sign_in()  # even the right password now waits
    assert refused.status_code == 429 and "分钟后再试" in text(refused)
    assert int(refused.headers["Retry-After"]) > 0
    assert browser.get("/todo").status_code == 302
    # Another person on the same address is not locked out by it.
    assert Browser(web).sign_in("nobody2", PASSWORD).status_code == 200


def test_a_deactivated_persons_session_stops_at_once(web, engine, cast, person):
    browser = Browser(web)
    browser.sign_in()
    assert browser.get("/todo").status_code == 200
    engine.deactivate_user(cast.admin, person, "调离本村")
    answer = browser.get("/todo")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert "登录已失效" in text(browser.get(answer.headers["Location"]))
    assert "登录名或密码不正确" in text(browser.sign_in())


def test_a_reset_ends_the_session_and_the_new_code_activates_again(web, engine, cast, person):
    browser = Browser(web)
    browser.sign_in()
    _, code = engine.reset_password(cast.admin, person, "本人忘记密码")
    assert browser.get("/todo").status_code == 302
    answer = browser.post("/activate", {"login": "zhangkj", "code": code,
                                        "password": "新密码2025夏天", "password2": "新密码2025夏天"})
    assert answer.status_code == 302 and "done=activated" in answer.headers["Location"]
    assert browser.sign_in(password="新密码2025夏天").status_code == 302
    assert browser.get("/todo").status_code == 200


def test_changing_the_password_keeps_this_session_and_ends_the_others(web, person):
    here, elsewhere = Browser(web), Browser(web)
    here.sign_in()
    elsewhere.sign_in()
    wrong = here.post("/password", {"old_password": "不对的密码abc", "password": "新密码2025夏天",
                                    "password2": "新密码2025夏天"})
    assert "当前密码不正确" in text(wrong)
    answer = here.post("/password", {"old_password": PASSWORD, "password": "新密码2025夏天",
                                     "password2": "新密码2025夏天"})
    assert answer.status_code == 200 and "密码已修改" in text(answer)
    assert here.get("/todo").status_code == 200
    assert elsewhere.get("/todo").status_code == 302


def test_activation_errors_are_in_chinese_beside_the_field_and_write_nothing(web, engine, cast):
    outcome, _ = engine.register_user(cast.admin, "钱委员", "village", cast.village, login="qianwy")
    code = outcome.details["activation_code"]
    before = engine.load(User, outcome.id).version
    browser = Browser(web)
    cases = (
        ({"code": code, "password": PASSWORD, "password2": PASSWORD + "x"}, "两次输入的密码不一致"),
        ({"code": code, "password": "1234567", "password2": "1234567"}, "密码至少 8 位"),
        ({"code": code, "password": "qianwy2025", "password2": "qianwy2025"}, "密码不能包含登录名"),
        ({"code": "AAAA-BBBB-CCCC", "password": PASSWORD, "password2": PASSWORD}, "登录名或激活码不正确"),
        ({"code": "", "password": PASSWORD, "password2": PASSWORD}, "请填写管理员给你的激活码"),
    )
    for form, words in cases:
        answer = browser.post("/activate", {"login": "qianwy", **form})
        body = text(answer)
        assert answer.status_code == 200 and words in body, words
        assert 'aria-invalid="true"' in body
    assert engine.load(User, outcome.id).version == before
    assert code not in text(browser.get("/activate"))


def test_signing_out_ends_the_session(web, person):
    browser = Browser(web)
    browser.sign_in()
    answer = browser.post("/logout", {})
    assert answer.status_code == 302 and "done=signed-out" in answer.headers["Location"]
    assert browser.get("/todo").status_code == 302
    assert "你已退出登录" in text(browser.get("/login?done=signed-out"))


def test_todo_lists_what_waits_on_the_persons_organisation(web, engine, cast, person):
    engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2027, 12, 31))
    browser = Browser(web)
    browser.sign_in()
    body = text(browser.get("/todo"))
    assert "接受结对" in body and "县财政局机关党委" in body
    shown = re.sub(r'href="[^"]*"', "", body)  # the item links to its act by id
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", shown)  # no UUID shown to a person


def test_the_session_key_is_made_once_and_kept_owner_only_in_the_data_folder(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    home = tmp_path / "var"
    with ThreadPoolExecutor(4) as pool:  # processes starting side by side agree on one key
        keys = set(pool.map(lambda _: secret_key(home), range(8)))
    assert len(keys) == 1 and len(keys.pop()) == 32
    path = home / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == [SECRET_FILE]  # no temporary file left


def test_the_json_api_is_unchanged_under_api(web):
    client = web.test_client()
    answer = client.get("/api/v1/users/me")
    assert answer.status_code == 401 and answer.mimetype == "application/problem+json"
    assert "Set-Cookie" not in answer.headers
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_an_unknown_address_answers_a_chinese_page(web):
    client = web.test_client()
    answer = client.get("/no-such-page")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert "页面不存在" in text(answer) and '<html lang="zh-CN">' in text(answer)
    wrong_method = client.delete("/login")
    assert wrong_method.status_code == 405 and "操作无效" in text(wrong_method)


def test_the_sheet_and_the_vendored_scripts_are_served_by_the_app(web):
    client = web.test_client()
    sheet = client.get("/assets/cobuild.css")
    assert sheet.status_code == 200 and sheet.mimetype == "text/css"
    assert b"#c8161d" in sheet.data.lower()
    for path in ("vendor/htmx.org/htmx.min.js", "vendor/echarts/echarts.min.js",
                 "vendor/echarts/LICENSE", "vendor/htmx.org/LICENSE", "vendor/axe-core/LICENSE"):
        answer = client.get(f"/assets/{path}")
        assert answer.status_code == 200, path
        answer.close()
    page = text(client.get("/login"))
    assert 'href="/assets/cobuild.css"' in page and "http" not in page.split("<body")[0]
