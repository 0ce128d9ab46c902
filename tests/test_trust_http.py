"""Least disclosure and secrets over HTTP (issue #16 F3, F4, F10–F13; DESIGN §13).

In-process (Flask's test client on a real engine and store); the crash, the files at rest
and the server's own log are in ``test_trust_server.py`` with a real ``cobuild serve``.
"""
from __future__ import annotations

import uuid

import pytest

from api.http.app import create_app
from api.root import Root
from api.http.security import FailedSignIns
from tests.api_support import JsonClient

V = "/api/v1"


@pytest.fixture
def world(templates, tmp_path):
    opened = []

    def open_world(setup: str = "in_force"):
        engine, settings, cast, ids = templates.open(setup, tmp_path / f"var{len(opened)}")
        opened.append(engine)
        return engine, settings, cast, ids, JsonClient(create_app(Root(settings, engine)).test_client())

    yield open_world
    for engine in opened:
        engine.close()


def names_nothing(answer, *secrets: str) -> None:
    text = answer.content.decode()
    for secret in secrets:
        assert secret not in text
    assert "current_etag" not in answer.json and "state" not in (answer.json.get("details") or {})


# -- F10: out of scope comes before the version ----------------------------------------------

@pytest.mark.parametrize("who", ["agency2", "village2", "outsider"])
def test_a_stale_if_match_on_a_record_out_of_scope_is_403_not_412(world, who):
    engine, _, cast, ids, http = world("in_force")
    p = ids["pairing"]
    version = engine.repository.get(uuid.UUID(p)).version
    for path, body in ((f"{V}/pairings/{p}/activities",
                        {"kind": "visit", "title": "走访", "occurred_at": "2025-03-01T09:00:00+08:00"}),
                       (f"{V}/pairings/{p}/renew", {"term_end": "2029-12-31"}),
                       (f"{V}/pairings/{p}/suspend", {"reason": "整改"})):
        answer = http.post(path, cast.tokens[who], body, headers={"If-Match": '"1"'})
        assert answer.status == 403, (path, answer.content)
        names_nothing(answer, f'"{version}"')


def test_a_stale_if_match_in_scope_still_gets_412(world):
    _, _, cast, ids, http = world("in_force")
    answer = http.post(f"{V}/pairings/{ids['pairing']}/renew", cast.tokens["supervisor"],
                       {"term_end": "2029-12-31"}, headers={"If-Match": '"1"'})
    assert answer.expect(412)["current_etag"]


# -- F11: users of no organisation -------------------------------------------------------------

def test_users_without_an_organisation_are_read_by_admins_only(world):
    _, _, cast, _, http = world("none")
    for subject in ("supervisor", "evaluator", "outsider", "admin"):
        path = f"{V}/users/{cast.users[subject]}"
        for reader in ("agency", "village", "evaluator", "supervisor", "outsider"):
            if reader == subject:
                continue
            assert http.get(path, cast.tokens[reader]).status == 403, (subject, reader)
    assert http.get(f"{V}/users/{cast.users['supervisor']}", cast.tokens["admin"]).status == 200
    assert http.get(f"{V}/users/{cast.users['supervisor']}", cast.tokens["supervisor"]).status == 200


# -- F12: text that displays other than it is stored --------------------------------------------

@pytest.mark.parametrize("title", ["\u202e礼堂修缮", "村道\u2066路灯\u2069", "\u200b\u200b",
                                   "\u200d \ufeff", "\u3000\u200b"])
def test_bidi_overrides_and_invisible_titles_are_refused(world, title):
    engine, _, cast, _, http = world("none")
    before = engine.recorder.max_notification_id()
    answer = http.post(f"{V}/tasks", cast.tokens["village"],
                       {"receiver_id": str(cast.orgs["V1"]), "category": "infrastructure",
                        "title": title})
    assert answer.expect(422)["errors"]["title"]
    renamed = http.post(f"{V}/organisations/{cast.orgs['V1']}/rename", cast.tokens["admin"],
                        {"name": title})
    assert renamed.status == 422
    assert engine.recorder.max_notification_id() == before


# -- F13: throttling, enumeration, headers ------------------------------------------------------

def test_repeated_wrong_tokens_get_429_with_retry_after_and_the_right_token_then_too(world):
    _, _, cast, _, http = world("none")
    statuses = [http.get(f"{V}/users/me", f"wrong-token-{n}").status for n in range(25)]
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}
    throttled = http.get(f"{V}/users/me", cast.tokens["village"])
    assert throttled.status == 429 and int(throttled.header("Retry-After")) >= 1
    assert throttled.content_type == "application/problem+json"


def test_failed_sign_ins_forget_old_failures_and_keep_memory_bounded():
    now = [0.0]
    throttle = FailedSignIns(limit=3, window=60, addresses=100, now=lambda: now[0])
    for _ in range(3):
        throttle.failed("10.0.0.1")
    with pytest.raises(Exception) as refused:
        throttle.check("10.0.0.1")
    assert refused.value.status == 429
    now[0] = 61.0
    throttle.check("10.0.0.1")  # the window passed
    for n in range(1000):
        throttle.failed(f"10.1.{n // 256}.{n % 256}")
    assert len(throttle) == 100


@pytest.mark.parametrize("who", ["agency2", "village2", "outsider"])
def test_organisation_codes_cannot_be_enumerated(world, who):
    from domain.organisation import Organisation

    _, _, cast, _, http = world("none")
    existing = http.get(f"{V}/organisations/{cast.orgs['V1']}", cast.tokens[who])
    made_up = http.get(f"{V}/organisations/{Organisation.create_id('NO-SUCH-CODE')}",
                       cast.tokens[who])
    assert (existing.status, existing.json) == (made_up.status, made_up.json)


def test_every_answer_carries_the_security_headers_and_no_server_version(world):
    _, _, cast, ids, http = world("in_force")
    answers = [http.get(f"{V}/pairings/{ids['pairing']}", cast.tokens["agency"]),
               http.get(f"{V}/pairings/{ids['pairing']}", cast.tokens["village2"]),
               http.get(f"{V}/users/me"),
               http.get("/api/openapi.json"), http.get("/api/docs")]
    for answer in answers:
        assert answer.header("X-Content-Type-Options") == "nosniff"
        assert "frame-ancestors 'none'" in answer.header("Content-Security-Policy")
        assert answer.header("X-Frame-Options") == "DENY"
        assert answer.header("Referrer-Policy") == "no-referrer"
        assert answer.header("Server") == "cobuild"


# -- F3: secrets shown once, never kept ---------------------------------------------------------

def test_secret_bearing_answers_are_not_stored_and_a_retry_gets_410(world):
    engine, settings, cast, _, http = world("none")
    key = {"Idempotency-Key": "new-user-0001"}
    body = {"name": "张委员", "role": "village", "organisation_id": str(cast.orgs["V1"])}
    first = http.post(f"{V}/users", cast.tokens["admin"], body, headers=key)
    token = first.expect(201)["token"]
    assert first.header("Cache-Control") == "no-store"
    retry = http.post(f"{V}/users", cast.tokens["admin"], body, headers=key)
    assert retry.expect(410)["code"] == "secret-shown-once"
    issued = http.post(f"{V}/users/{first.json['id']}/tokens", cast.tokens["admin"], {},
                       headers={"Idempotency-Key": "token-0001"})
    second = issued.expect(201)["token"]
    assert issued.header("Cache-Control") == "no-store"
    again = http.post(f"{V}/users/{first.json['id']}/tokens", cast.tokens["admin"], {},
                      headers={"Idempotency-Key": "token-0001"})
    assert again.expect(410)["code"] == "secret-shown-once"
    assert http.get(f"{V}/users/me", token).status == 200  # the secrets still work
    assert http.get(f"{V}/users/me", second).status == 200
    for path in settings.home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert token.encode() not in data and second.encode() not in data, path


# -- F4: the receipt written with the events answers a retry whose answer was lost -------------

def test_a_retry_after_the_answer_was_lost_answers_the_committed_outcome(world):
    """The process died after the commit: its key's record is unfinished.  The retry finds
    the receipt the engine wrote with the events and answers without running again."""
    engine, settings, cast, ids, http = world("in_force")
    key = {"Idempotency-Key": "lost-answer-0001"}
    body = {"receiver_id": str(cast.orgs["V1"]), "category": "infrastructure", "title": "村道路灯"}
    first = http.post(f"{V}/tasks", cast.tokens["village"], body, headers=key).expect(201)
    store = create_app(Root(settings, engine)).extensions["cobuild"].idempotency
    with store.store.write() as cur:  # what a crash before the answer was kept leaves
        cur.execute("UPDATE idempotency_keys SET status = NULL, headers = NULL, body = NULL")
    after = engine.recorder.max_notification_id()
    retry = http.post(f"{V}/tasks", cast.tokens["village"], body, headers=key)
    assert retry.expect(201) == first and retry.header("Idempotent-Replayed") == "true"
    assert engine.recorder.max_notification_id() == after
    again = http.post(f"{V}/tasks", cast.tokens["village"], body, headers=key)
    assert again.expect(201) == first and again.header("Idempotent-Replayed") == "true"
    other = http.post(f"{V}/tasks", cast.tokens["village"], {**body, "title": "别的"}, headers=key)
    assert other.expect(422)["code"] == "idempotency-key-reused"
