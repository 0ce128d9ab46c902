"""The engine keeps aggregates in memory between commands (issue #17): what people rely on
is that nothing it answers is ever stale or half-changed because of that."""
from __future__ import annotations

import pytest

from domain.pairing import Pairing
from domain.errors import DomainError
from workflows.engine import open_engine
from workflows.errors import Unauthenticated


def test_what_another_process_writes_is_seen_by_the_next_read_and_command(engine, cast, settings, clock):
    pairing = cast.pairing_in_force()
    before = engine.read(cast.villager, Pairing, pairing)  # now cached in this engine
    other = open_engine(settings, clock)  # another process on the same store
    try:
        activity = other.record_activity(cast.agency, pairing, "visit", "入户走访", clock.now()).details["activity_id"]
    finally:
        other.close()
    seen = engine.read(cast.villager, Pairing, pairing)
    assert seen.version == before.version + 1
    assert activity in seen.activities
    outcome = engine.cosign_activity(cast.villager, pairing, activity)
    assert outcome.version == seen.version + 1


def test_an_answer_already_read_is_never_changed_by_a_later_command(engine, cast, clock):
    pairing = cast.pairing_in_force()
    read = engine.read(cast.villager, Pairing, pairing)
    version, activities = read.version, dict(read.activities)
    engine.record_activity(cast.agency, pairing, "visit", "入户走访", clock.now())
    # The reader's object is as it was when read (a copy took the new event), and the next
    # read has the activity.
    assert (read.version, read.activities) == (version, activities)
    assert engine.read(cast.villager, Pairing, pairing).version == version + 1


def test_a_refused_command_leaves_nothing_behind_for_the_next_one(engine, cast):
    pairing = cast.pairing_in_force()
    engine.read(cast.villager, Pairing, pairing)
    with pytest.raises(DomainError):
        engine.accept_pairing(cast.villager, pairing)  # already in force: refused
    seen = engine.read(cast.villager, Pairing, pairing)
    assert seen.state == "in_force"
    assert not seen.pending_events


def test_a_revoked_token_or_deactivated_user_is_refused_at_once_in_every_process(engine, cast, settings, clock):
    _, token = engine.register_user(cast.admin, "临时用户", "village", cast.village)
    assert engine.authenticate(token).role == "village"  # cached in this engine
    other = open_engine(settings, clock)
    try:
        other.revoke_token(cast.admin, token, "离岗")
    finally:
        other.close()
    with pytest.raises(Unauthenticated):
        engine.authenticate(token)


def test_a_deactivated_user_or_a_shorter_validity_is_refused_at_once_in_every_process(
        engine, cast, settings, clock):
    # Each engine keeps what it derived from a token; a change written by another process
    # (another gunicorn worker, the CLI) is seen on the very next authentication.
    outcome, token = engine.register_user(cast.admin, "临时用户", "village", cast.village)
    _, other_token = engine.register_user(cast.admin, "另一位", "village", cast.village)
    clock.advance(days=40)
    assert engine.authenticate(token).user_id == str(outcome.id)
    assert engine.authenticate(other_token).role == "village"
    other = open_engine(settings, clock)
    try:
        other.deactivate_user(cast.admin, outcome.id, "调离")
        with pytest.raises(Unauthenticated, match="deactivated"):
            engine.authenticate(token)
        assert engine.authenticate(other_token).role == "village"
        other.publish_rules(cast.admin, {"token_days": 30})
    finally:
        other.close()
    with pytest.raises(Unauthenticated, match="expired"):
        engine.authenticate(other_token)
