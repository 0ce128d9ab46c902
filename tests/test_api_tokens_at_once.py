"""A token's answer is kept between requests (issue #17: every request authenticates), and
what people rely on is that stopping a token, a user or a validity takes effect on the very
next request, whichever worker answers it, and that no one is ever answered as someone else.

Two apps on one store stand for two gunicorn workers: each keeps what it derived from a
token, so a change made through one must be refused at once by the other."""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from api.app import create_app
from api.root import Root
from tests.api_support import JsonClient, rebind
from workflows.engine import open_engine

V = "/api/v1"


@pytest.fixture(scope="module")
def other_app(templates, tmp_path_factory):
    engine, settings, _, _ = templates.open("none", tmp_path_factory.mktemp("other") / "var")
    yield create_app(Root(settings, engine))
    engine.close()


@pytest.fixture
def workers(templates, app, other_app, tmp_path):
    """Two workers on one fresh store, each with an engine of its own, one clock."""
    engine, settings, cast, _ = templates.open("none", tmp_path / "var")
    second = open_engine(settings, engine.clock)
    rebind(app, engine, settings)
    rebind(other_app, second, settings)
    yield cast, JsonClient(app.test_client()), JsonClient(other_app.test_client())
    second.close()
    engine.close()


def me(http: JsonClient, token: str) -> int:
    return http.get(f"{V}/users/me", token).status


def test_a_deactivated_users_token_is_refused_at_once_by_every_worker(workers):
    cast, first, second = workers
    token, user = cast.tokens["village2"], cast.users["village2"]
    for http in (first, second):  # both workers have now derived the token's user
        assert http.get(f"{V}/users/me", token).expect(200)["user_id"] == str(user)
    first.post(f"{V}/users/{user}/deactivate", cast.tokens["admin"], {"reason": "调离岗位"}).expect(200)
    for http in (second, first):
        refused = http.get(f"{V}/users/me", token)
        assert refused.status == 401 and "deactivated" in refused.json["detail"]
        # Refused before anything is disclosed or done.
        assert http.post(f"{V}/tasks", token, {"receiver_id": str(cast.orgs["V2"]), "category": "health",
                                               "title": "巡回义诊"}).status == 401
    # The other users of both workers are answered as before.
    assert me(second, cast.tokens["village"]) == me(first, cast.tokens["village"]) == 200


def test_revoking_a_users_tokens_on_one_worker_stops_them_on_the_other_at_once(workers):
    cast, first, second = workers
    user, token = cast.users["village"], cast.tokens["village"]
    assert me(second, token) == 200
    first.post(f"{V}/users/{user}/revoke-tokens", cast.tokens["admin"], {"reason": "手机遗失"}).expect(200)
    assert me(second, token) == 401
    fresh = first.post(f"{V}/users/{user}/tokens", cast.tokens["admin"], {}).expect(201)["token"]
    assert second.get(f"{V}/users/me", fresh).expect(200)["user_id"] == str(user)
    assert me(second, token) == 401  # the old one stays stopped


def test_one_revoked_token_is_refused_at_once_and_the_users_other_token_is_not(workers):
    cast, first, second = workers
    user, token = cast.users["agency"], cast.tokens["agency"]
    other = first.post(f"{V}/users/{user}/tokens", cast.tokens["admin"], {}).expect(201)["token"]
    assert me(second, token) == me(second, other) == 200
    first.post(f"{V}/users/revoke-token", token, {"token": token, "reason": "发错了人"}).expect(200)
    assert me(second, token) == 401
    assert me(second, other) == 200


def test_a_shorter_validity_published_on_one_worker_expires_tokens_on_the_other_at_once(workers):
    cast, first, second = workers
    token = cast.tokens["village"]
    cast.engine.clock.advance(days=40)
    assert me(second, token) == 200
    first.post(f"{V}/rules", cast.tokens["admin"], {"token_days": 30}).expect(201)
    refused = second.get(f"{V}/users/me", token)
    assert refused.status == 401 and "expired" in refused.json["detail"]


def test_a_kept_token_still_expires_with_the_clock(workers):
    cast, first, _ = workers
    token = cast.tokens["village"]
    cast.engine.clock.advance(days=89)
    assert me(first, token) == 200
    cast.engine.clock.advance(days=1)
    assert me(first, token) == 401


def test_threads_authenticating_at_once_are_each_answered_as_themselves(workers):
    cast, first, _ = workers
    people = ["agency", "agency2", "village", "village2", "supervisor", "evaluator"]
    wrong: Counter[str] = Counter()
    errors: list[BaseException] = []

    def ask(who: str) -> None:
        http = JsonClient(first.flask_client.application.test_client())
        try:
            for _ in range(15):
                answer = http.get(f"{V}/users/me", cast.tokens[who])
                if answer.status != 200 or answer.json["user_id"] != str(cast.users[who]):
                    wrong[who] += 1
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(who,)) for who in people * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and not wrong
