"""A real ``cobuild serve``: killed between a commit and its answer, and searched for
secrets at rest (issue #16 F3, F4, F14; DESIGN §13).

F4 runs on SQLite and, when ``COBUILD_TEST_DATABASE_URL`` is set, on PostgreSQL: the server
exits (``COBUILD_TEST_EXIT_AFTER_COMMIT=1``, as a ``kill -9`` at that point would) right
after a keyed command committed, before its answer is kept or sent; the keyed retry to a
new server gets the committed outcome, and the store holds exactly one event.
"""
from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

import pytest
import requests

from tests.api_support import JsonClient, ServerProcess
from tests.support import COUNTY, fresh_settings
from workflows.engine import open_engine
from workflows.organisations import canonical_code

V = "/api/v1"
DATABASES = ["sqlite"] + (["postgres"] if os.environ.get("COBUILD_TEST_DATABASE_URL") else [])


@pytest.fixture(params=DATABASES)
def settings(request, tmp_path):
    url = os.environ["COBUILD_TEST_DATABASE_URL"] if request.param == "postgres" else ""
    with fresh_settings(tmp_path, url) as s:
        yield s


def village_with_user(http: JsonClient, admin: str, code: str = "V1") -> tuple[str, str]:
    org = http.post(f"{V}/organisations", admin, {
        "code": code, "name": "大柘镇石练村党支部", "kind": "village",
        "region_code": f"{COUNTY}101201"}).expect(201)["id"]
    user = http.post(f"{V}/users", admin, {"name": "李支书", "role": "village",
                                          "organisation_id": org}).expect(201)
    return org, user["token"]


def need_events(settings) -> int:
    engine = open_engine(settings)
    try:
        notifications = engine.recorder.select_notifications(start=1, limit=100_000)
        return sum(n.topic.endswith("NeedRaised") for n in notifications)
    finally:
        engine.close()


def test_a_server_killed_between_commit_and_answer_answers_the_keyed_retry_once(settings):
    admin = "admin-" + secrets.token_urlsafe(24)
    home, url = settings.home, settings.database_url
    doomed = ServerProcess(home, admin, url, {"COBUILD_TEST_EXIT_AFTER_COMMIT": "1"})
    http = JsonClient(base_url=doomed.base_url)
    village, token = village_with_user(http, admin)  # unkeyed: the hook waits for a key
    body = {"receiver_id": village, "category": "infrastructure", "title": "修缮村文化礼堂屋顶"}
    key = {"Idempotency-Key": "need-礼堂-0001".encode().hex()}
    with pytest.raises(requests.ConnectionError):
        http.post(f"{V}/tasks", token, body, headers=key)
    assert doomed.process.wait(timeout=60) == 86
    doomed.process.stdout.close()
    assert need_events(settings) == 1  # the command did commit before the process died

    server = ServerProcess(home, admin, url)
    try:
        http = JsonClient(base_url=server.base_url)
        retry = http.post(f"{V}/tasks", token, body, headers=key)
        first = retry.expect(201)
        assert retry.header("Idempotent-Replayed") == "true"
        assert retry.header("Location") == f"{V}/tasks/{first['id']}"
        assert http.get(f"{V}/tasks/{first['id']}", token).expect(200)["title"] == body["title"]
        again = http.post(f"{V}/tasks", token, body, headers=key)
        assert again.expect(201) == first
    finally:
        server.stop()
    assert need_events(settings) == 1


def test_no_secret_issued_is_at_rest_under_the_data_folder_or_in_the_log(tmp_path):
    home = tmp_path / "var"
    admin = "admin-" + secrets.token_urlsafe(24)
    server = ServerProcess(home, admin)
    issued: list[str] = []
    try:
        http = JsonClient(base_url=server.base_url)
        village, token = village_with_user(http, admin)
        issued.append(token)
        body = {"name": "张委员", "role": "village", "organisation_id": village}
        keyed = {"Idempotency-Key": "user-0001"}
        user = http.post(f"{V}/users", admin, body, headers=keyed).expect(201)
        issued.append(user["token"])
        assert http.post(f"{V}/users", admin, body, headers=keyed).expect(410)["code"] == "secret-shown-once"
        more = {"Idempotency-Key": "token-0001"}
        issued.append(http.post(f"{V}/users/{user['id']}/tokens", admin, {}, headers=more).expect(201)["token"])
        assert http.post(f"{V}/users/{user['id']}/tokens", admin, {}, headers=more).status == 410
        for secret in issued:  # used, and once carried in a query string too
            assert http.get(f"{V}/users/me", secret).status == 200
            http.get(f"{V}/users/me?access_token={secret}", secret)
        http.get(f"{V}/users/me?access_token={issued[0]}x", f"{issued[0]}x")
    finally:
        log = server.stop()
    # waitress keeps no request log; what the server does print must not hold a secret.
    assert "cobuild API" in log
    for secret in issued:
        assert secret not in log
    at_rest = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite") for p in at_rest)
    for path in at_rest:
        data = path.read_bytes()
        for secret in issued:
            assert secret.encode() not in data, f"a token issued over HTTP is stored in {path}"
    assert_owner_only(home)


def assert_owner_only(home: Path) -> None:
    """F14: the data folder and everything in it are its owner's only."""
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _form(session: requests.Session, base: str, path: str, data: dict) -> requests.Response:
    page = session.get(base + path, timeout=30)
    csrf = _CSRF.search(page.text)
    assert csrf, f"no CSRF token on {path}"
    return session.post(base + path, data={**data, "csrf_token": csrf.group(1)},
                        allow_redirects=False, timeout=30)


def secrets_at_rest(home: Path, *texts: str) -> list[str]:
    """Every file under ``home`` holding one of ``texts`` (a code also as it is hashed)."""
    found = []
    for path in (p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for text in texts:
            if text.encode() in data or canonical_code(text).encode() in data:
                found.append(f"{path}: {text}")
    return found


def test_serve_on_a_new_folder_prints_the_first_admins_secrets_once_and_keeps_none(settings):
    """No ``admin-token`` file: the first admin's token and web activation code are printed
    once below the banner, only their hashes are stored, and the code works once."""
    home, url = settings.home, settings.database_url
    server = ServerProcess(home, "", url)  # no COBUILD_BOOTSTRAP_TOKEN: the server makes one
    printed = [*server.banner]
    try:
        while not printed[-1].startswith("The person opens"):
            printed.append(server._line())
        token = printed[printed.index("First admin token (shown once, keep it safe):") + 1]
        code = printed[next(i for i, line in enumerate(printed)
                            if line.startswith("login admin; activation code")) + 1]
        assert "first admin was created" in printed[1]
        base = server.base_url
        assert requests.get(f"{base}{V}/users/me", headers={"Authorization": f"Bearer {token}"},
                            timeout=30).json()["role"] == "admin"
        person = requests.Session()
        password = "县委组织部2025春"
        activated = _form(person, base, "/activate", {"login": "admin", "code": code,
                                                      "password": password, "password2": password})
        assert activated.status_code == 302 and "done=activated" in activated.headers["Location"]
        again = _form(requests.Session(), base, "/activate", {
            "login": "admin", "code": code, "password": "另一个密码2025", "password2": "另一个密码2025"})
        assert again.status_code == 200 and "登录名或激活码不正确" in again.text
        signed_in = _form(person, base, "/login", {"login": "admin", "password": password})
        assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/todo")
        assert person.get(f"{base}/todo", timeout=30).status_code == 200
    finally:
        rest = server.stop()
    console = "\n".join(printed) + "\n" + rest
    assert console.count(token) == 1 and console.count(code) == 1  # printed once, logged never
    assert not (home / "admin-token").exists()
    assert secrets_at_rest(home, token, code) == []
    assert_owner_only(home)
    # A second start on the folder prints no secret and says where they were shown.
    again_server = ServerProcess(home, "", url)
    try:
        assert "printed once when it was initialised" in again_server.banner[1]
    finally:
        later = "\n".join(again_server.banner) + again_server.stop()
    assert token not in later and code not in later and "shown once" not in later
    assert secrets_at_rest(home, token, code) == []
