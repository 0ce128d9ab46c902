"""People's accounts: login, activation code, password, reset, sessions (docs/web.md,
docs/decisions.md).

The rules are the domain's (``domain.user``); the commands are the engine's.  Only hashes of
the activation code and the password may reach the event log.
"""
from __future__ import annotations

import os
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from domain.errors import Duplicate, InvalidValue, NotPermitted
from domain.user import (
    PASSWORD_MIN, User, check_password, hash_secret, normalise_login, verify_secret,
)
from workflows.errors import Forbidden, Unauthenticated
from workflows.organisations import CODE_ALPHABET, canonical_code, new_activation_code

PASSWORD = "石练村2025春"


# -- pure rules ----------------------------------------------------------------------------------

@given(st.text(min_size=0, max_size=24), st.binary(min_size=16, max_size=16))
@hsettings(max_examples=15, deadline=None)  # each hash costs ~0.1 s by design
def test_a_secret_verifies_against_its_own_hash_only(secret, salt):
    stored = hash_secret(secret, salt)
    assert stored.startswith("scrypt$n=32768,r=8,p=1$")
    assert verify_secret(secret, stored)
    assert not verify_secret(secret + "x", stored)


def test_the_same_secret_with_another_salt_hashes_differently():
    a, b = hash_secret(PASSWORD, os.urandom(16)), hash_secret(PASSWORD, os.urandom(16))
    assert a != b and verify_secret(PASSWORD, a) and verify_secret(PASSWORD, b)


@pytest.mark.parametrize("stored", [None, "", "sha256$abc",
                                    "scrypt$n=3,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
                                    "scrypt$n=1048576,r=99,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="])
def test_a_hash_this_code_did_not_write_never_verifies(stored):
    assert not verify_secret("anything", stored)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{2,39}", fullmatch=True))
def test_logins_compare_without_case_or_surrounding_blanks(login):
    assert normalise_login(f"  {login} ") == login.lower() == normalise_login(login.upper())


@pytest.mark.parametrize("login", ["", "ab", "李支书", "has space", "-dash-first", "x" * 41, 7])
def test_a_login_outside_the_rules_is_refused(login):
    with pytest.raises(InvalidValue) as refused:
        normalise_login(login)
    assert refused.value.field == "login"


@pytest.mark.parametrize("password", ["short1", "aaaaaaaaaaaa", "abababab", "x" * 129,
                                      "my-lishi01-pw"])
def test_a_weak_password_is_refused(password):
    with pytest.raises(InvalidValue) as refused:
        check_password(password, login="lishi01")
    assert refused.value.field == "password"


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
               min_size=PASSWORD_MIN, max_size=40).filter(lambda p: len(set(p)) >= 4))
def test_any_long_enough_varied_password_is_taken_as_typed(password):
    assert check_password(password) == password


def test_activation_codes_are_random_readable_and_typed_loosely():
    codes = {new_activation_code() for _ in range(50)}
    assert len(codes) == 50
    code = codes.pop()
    assert len(code) == 14 and code.count("-") == 2
    assert set(code.replace("-", "")) <= set(CODE_ALPHABET)
    assert canonical_code(f" {code.lower().replace('-', ' ')} ") == code.replace("-", "")


# -- through the engine --------------------------------------------------------------------------

@pytest.fixture
def person(engine, cast):
    """李支书's colleague with a login, not yet activated: (user id, activation code)."""
    outcome, _ = engine.register_user(cast.admin, "张会计", "village", cast.village,
                                      login="ZhangKJ")
    return outcome.id, outcome.details["activation_code"]


def all_event_text(engine) -> str:
    texts, start = [], 1
    while page := engine.notification_log.select(start=start, limit=1000):
        texts += [n.state.decode("utf-8", "replace") for n in page]
        start = page[-1].id + 1
    return "\n".join(texts)


def test_the_activation_code_works_once_and_only_hashes_are_recorded(engine, person):
    user_id, code = person
    with pytest.raises(Unauthenticated):
        engine.sign_in("zhangkj", PASSWORD)  # no password before activation
    engine.activate_account("ZHANGKJ", code.lower(), PASSWORD)
    signed = engine.sign_in(" zhangkj ", PASSWORD)
    assert signed.actor.user_id == str(user_id) and signed.actor.role == "village"
    assert signed.login == "zhangkj" and signed.credentials_version == 1
    with pytest.raises(NotPermitted):
        engine.activate_account("zhangkj", code, "另一个密码abc123")
    text = all_event_text(engine)
    for secret in (PASSWORD, code, canonical_code(code)):
        assert secret not in text
    assert "scrypt$n=" in text  # what is recorded instead


def test_unknown_login_and_wrong_code_are_refused_alike(engine, person):
    _, code = person
    with pytest.raises(NotPermitted) as unknown:
        engine.activate_account("nobody", code, PASSWORD)
    with pytest.raises(NotPermitted) as wrong:
        engine.activate_account("zhangkj", "AAAA-BBBB-CCCC", PASSWORD)
    assert unknown.value.message == wrong.value.message
    assert unknown.value.rule == wrong.value.rule == "wrong-activation-code"


def test_a_weak_password_at_activation_writes_nothing_and_keeps_the_code(engine, person):
    user_id, code = person
    before = engine.load(User, user_id).version
    with pytest.raises(InvalidValue):
        engine.activate_account("zhangkj", code, "1234567")
    assert engine.load(User, user_id).version == before
    engine.activate_account("zhangkj", code, PASSWORD)


def test_an_activation_code_expires_after_two_weeks(engine, clock, person):
    _, code = person
    clock.advance(days=15)
    with pytest.raises(NotPermitted) as refused:
        engine.activate_account("zhangkj", code, PASSWORD)
    assert refused.value.rule == "activation-expired"


def test_wrong_password_and_unknown_login_are_the_same_refusal(engine, person):
    _, code = person
    engine.activate_account("zhangkj", code, PASSWORD)
    with pytest.raises(Unauthenticated) as wrong:
        engine.sign_in("zhangkj", PASSWORD + "x")
    with pytest.raises(Unauthenticated) as unknown:
        engine.sign_in("nobody", PASSWORD)
    assert str(wrong.value) == str(unknown.value)


def test_a_login_is_unique_whatever_its_case(engine, cast, person):
    with pytest.raises(Duplicate):
        engine.register_user(cast.admin, "张会计二", "village", cast.village, login="zhangkj")


def test_only_an_admin_in_scope_gives_logins_and_resets(engine, cast, person):
    user_id, _ = person
    with pytest.raises(Forbidden):
        engine.reset_password(cast.supervisor, user_id, "忘记密码")
    with pytest.raises(Forbidden):
        engine.give_login(cast.villager, user_id, "other")


def test_sessions_follow_the_credentials(engine, cast, person):
    user_id, code = person
    engine.activate_account("zhangkj", code, PASSWORD)
    version = engine.sign_in("zhangkj", PASSWORD).credentials_version
    actor, _ = engine.session_user(user_id, version)

    engine.change_password(actor, PASSWORD, "新密码2025夏天")
    with pytest.raises(Unauthenticated):
        engine.session_user(user_id, version)  # the old session ended
    with pytest.raises(Unauthenticated):
        engine.sign_in("zhangkj", PASSWORD)
    version = engine.sign_in("zhangkj", "新密码2025夏天").credentials_version

    _, new_code = engine.reset_password(cast.admin, user_id, "本人忘记密码")
    with pytest.raises(Unauthenticated):
        engine.session_user(user_id, version)
    with pytest.raises(Unauthenticated):
        engine.sign_in("zhangkj", "新密码2025夏天")
    engine.activate_account("zhangkj", new_code, PASSWORD)
    version = engine.sign_in("zhangkj", PASSWORD).credentials_version
    engine.session_user(user_id, version)

    engine.deactivate_user(cast.admin, user_id, "调离本村")
    with pytest.raises(Unauthenticated):
        engine.session_user(user_id, version)
    with pytest.raises(Unauthenticated):
        engine.sign_in("zhangkj", PASSWORD)


def test_changing_the_password_needs_the_current_one(engine, person):
    user_id, code = person
    engine.activate_account("zhangkj", code, PASSWORD)
    actor = engine.sign_in("zhangkj", PASSWORD).actor
    before = engine.load(User, user_id).version
    with pytest.raises(NotPermitted):
        engine.change_password(actor, "不是这个密码abc", "新密码2025夏天")
    with pytest.raises(InvalidValue):
        engine.change_password(actor, PASSWORD, PASSWORD)
    assert engine.load(User, user_id).version == before


def test_the_first_admin_gets_a_login_later(engine, cast):
    admin_id = __import__("uuid").UUID(cast.admin.user_id)
    _, code = engine.give_login(cast.admin, admin_id, "admin")
    engine.activate_account("admin", code, "组织部管理员2025")
    assert engine.sign_in("admin", "组织部管理员2025").actor.role == "admin"
    with pytest.raises(InvalidValue):
        engine.give_login(cast.admin, admin_id, "admin2")  # one login per user
