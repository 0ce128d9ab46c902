"""The engine on a real store: authorisation, persistence, concurrency, onboarding."""
from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.base import SYSTEM
from domain.errors import Duplicate, InvalidValue, NotPermitted, WrongState
from domain.pairing import Pairing
from workflows.engine import open_engine
from workflows.errors import ConcurrencyConflict, Forbidden, NotFound, StaleVersion, Unauthenticated
from workflows.organisations import AlreadyInitialised, ImportRejected


def count_events(engine) -> int:
    return engine.recorder.max_notification_id() or 0


def test_tokens_authenticate_and_revocation_takes_effect(engine, cast):
    _, token = engine.register_user(cast.admin, "新用户", "village", cast.village)
    actor = engine.authenticate(token)
    assert (actor.role, actor.organisation_id) == ("village", cast.village)
    engine.revoke_token(cast.admin, token, "离岗")
    with pytest.raises(Unauthenticated, match="revoked"):
        engine.authenticate(token)
    with pytest.raises(Unauthenticated):
        engine.authenticate("not-a-token-at-all")


def test_tokens_are_stored_only_as_hashes(engine, settings):
    token = engine.bootstrap_admin("a-known-bootstrap-token-value")
    stored = b"".join(n.state for n in engine.recorder.select_notifications(start=1, limit=100))
    assert token.encode() not in stored


def test_second_bootstrap_is_refused(engine, cast):
    with pytest.raises(AlreadyInitialised):
        engine.bootstrap_admin()


def test_agency_acts_only_for_its_own_organisation_on_the_giving_side(engine, cast):
    with pytest.raises(Forbidden) as refused:
        engine.propose_pairing(cast.agency, cast.giver2, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    assert refused.value.rule == "own-organisation"
    with pytest.raises(Forbidden) as refused:
        engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1),
                               date(2026, 1, 1), on_behalf_of=cast.giver2)
    assert refused.value.rule == "no-proxy"


def test_village_acts_only_for_its_own_organisation(engine, cast):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    with pytest.raises(Forbidden) as refused:
        engine.accept_pairing(cast.villager2, p.id)
    assert refused.value.rule == "not-in-scope"
    with pytest.raises(Forbidden):
        engine.propose_pairing(cast.villager, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))


def test_evaluator_never_changes_a_domain_fact(engine, cast):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    with pytest.raises(Forbidden) as refused:
        engine.accept_pairing(cast.evaluator, p.id)
    assert refused.value.rule == "evaluator-read-only"
    with pytest.raises(Forbidden):
        engine.register_organisation(cast.evaluator, "X9", "某村", "village", "331123101209")
    assert engine.read(cast.evaluator, Pairing, p.id).state == "proposed"


def test_supervisor_enters_data_on_behalf_of_a_village_in_its_region(engine, cast):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    with pytest.raises(Forbidden) as refused:
        engine.accept_pairing(cast.supervisor, p.id)
    assert refused.value.rule == "on-behalf-required"
    with pytest.raises(Forbidden):
        engine.accept_pairing(cast.outsider_supervisor, p.id, on_behalf_of=cast.village)
    outcome = engine.accept_pairing(cast.supervisor, p.id, on_behalf_of=cast.village)
    assert outcome.state == "accepted"
    accepted = list(engine.repository.event_store.get(p.id))[-1]
    assert accepted.on_behalf_of == cast.village
    assert accepted.actor["role"] == "supervisor"


def test_a_giving_kind_never_receives(engine, cast):
    with pytest.raises(InvalidValue, match="never receives"):
        engine.propose_pairing(cast.agency, cast.giver, cast.giver2, date(2025, 1, 1), date(2026, 1, 1))


def test_at_most_one_live_pairing_between_two_organisations(engine, cast):
    first = cast.pairing_in_force()
    with pytest.raises(Duplicate):
        engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    engine.terminate_pairing(cast.admin, first, "结对调整")
    again = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 6, 1), date(2026, 6, 1))
    assert again.state == "proposed"


def test_a_declined_pairing_frees_the_slot(engine, cast):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    engine.decline_pairing(cast.villager, p.id, "已有结对")
    assert engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1),
                                  date(2026, 1, 1)).state == "proposed"


def test_an_expired_pairing_frees_the_slot(engine, cast, clock):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2025, 6, 30))
    engine.accept_pairing(cast.villager, p.id)
    clock.advance(days=200)
    assert engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 9, 1),
                                  date(2026, 9, 1)).state == "proposed"


def test_wrong_state_names_state_and_command(engine, cast):
    p = cast.pairing_in_force()
    with pytest.raises(WrongState, match="pairing is in_force: cannot accept"):
        engine.accept_pairing(cast.villager, p)


def test_business_time_in_the_future_is_refused(engine, cast, clock):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    before = count_events(engine)
    with pytest.raises(InvalidValue, match="future"):
        engine.accept_pairing(cast.villager, p.id, occurred_at=clock.now() + timedelta(hours=1))
    assert count_events(engine) == before


def test_backfilled_business_time_is_kept(engine, cast, clock):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1),
                               occurred_at=clock.now() - timedelta(days=30))
    engine.accept_pairing(cast.villager, p.id, occurred_at=clock.now() - timedelta(days=29))
    events = list(engine.repository.event_store.get(p.id))
    assert events[1].occurred_at == clock.now() - timedelta(days=29)
    assert events[1].timestamp > events[1].occurred_at


def test_workflow_commands_are_for_the_system_only(engine, cast):
    p = cast.pairing_in_force()
    with pytest.raises(Forbidden) as refused:
        engine.flag_pairing_inactivity(cast.admin, p, "R2", {"days": 91})
    assert refused.value.rule == "workflow-only"
    assert engine.flag_pairing_inactivity(SYSTEM, p, "R2", {"days": 91}).state == "in_force"


def test_stale_expected_version_is_refused(engine, cast):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
    with pytest.raises(StaleVersion):
        engine.accept_pairing(cast.villager, p.id, expected_version=0)
    assert engine.accept_pairing(cast.villager, p.id, expected_version=1).version == 2


def test_unknown_ids_are_not_found(engine, cast):
    from uuid import uuid4

    with pytest.raises(NotFound):
        engine.accept_pairing(cast.villager, uuid4())
    with pytest.raises(NotFound):
        engine.propose_pairing(cast.agency, cast.giver, uuid4(), date(2025, 1, 1), date(2026, 1, 1))


def test_reopening_the_store_sees_the_same_state(settings, clock, cast):
    p = cast.pairing_in_force()
    cast.engine.close()
    again = open_engine(settings, clock)
    try:
        pairing = again.load(Pairing, p)
        assert (pairing.state, pairing.version) == ("in_force", 4)
        assert again.organisation_by_code("V1").name == "大柘镇石练村党支部"
    finally:
        again.close()


def test_concurrent_saves_one_wins_one_conflicts_history_intact(settings, clock, cast):
    p = cast.engine.propose_pairing(
        cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1)).id
    a, b = open_engine(settings, clock), open_engine(settings, clock)
    try:
        pa, pb = a.load(Pairing, p), b.load(Pairing, p)
        by_a = a.attribution(cast.villager)
        pa.accept(by_a)
        pb.decline(b.attribution(cast.villager), "不同意")
        barrier = threading.Barrier(2)
        results = {}

        def save(name, engine, pairing):
            barrier.wait()
            try:
                results[name] = engine.commit(pairing).state
            except ConcurrencyConflict:
                results[name] = "conflict"

        threads = [threading.Thread(target=save, args=(n, e, x)) for n, e, x in (("a", a, pa), ("b", b, pb))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) in (["accepted", "conflict"], ["conflict", "declined"])
        history = list(a.repository.event_store.get(p))
        assert [e.originator_version for e in history] == [1, 2]
        winner = "accepted" if "accepted" in results.values() else "declined"
        assert a.load(Pairing, p).state == winner
    finally:
        a.close()
        b.close()


def test_collective_income_is_recorded_for_villages(engine, cast):
    outcome = engine.report_collective_income(cast.admin, cast.village, 2024, Decimal("28000"))
    assert outcome.version == 2
    with pytest.raises(InvalidValue):
        engine.report_collective_income(cast.admin, cast.giver, 2024, Decimal("1"))
    with pytest.raises(InvalidValue):
        engine.report_collective_income(cast.admin, cast.village, 2024, Decimal("-1"))


def test_duplicate_organisation_code_is_refused(engine, cast):
    with pytest.raises(Duplicate):
        engine.register_organisation(cast.admin, "V1", "重复", "village", "331123101201")


def test_import_is_all_or_nothing_with_line_numbers(engine, cast):
    before = count_events(engine)
    text = ("code,name,kind,region_code\n"
            "N1,新村一,village,331123101211\n"
            "N2,,village,331123101212\n"
            "N3,新单位,castle,331123000000\n"
            "V1,重复,village,331123101201\n"
            "N1,又一个,village,331123101211\n")
    with pytest.raises(ImportRejected) as rejected:
        engine.import_organisations(cast.admin, text)
    lines = {e.line: e.message for e in rejected.value.errors}
    assert sorted(lines) == [3, 4, 5, 6]
    assert "name" in lines[3] and "kind" in lines[4] and "already registered" in lines[5]
    assert "repeats line 2" in lines[6]
    assert count_events(engine) == before
    good = "\ufeffcode,name,kind,region_code\nN1,新村一,village,331123101211\nN2,新村二,community,331123101212\n"
    assert len(engine.import_organisations(cast.admin, good)) == 2
    assert count_events(engine) == before + 2


def test_party_refusal_from_the_domain_reaches_the_caller(engine, cast):
    p = cast.pairing_in_force()
    a = engine.record_activity(cast.agency, p, "visit", "走访", engine.clock.now())
    with pytest.raises(NotPermitted) as refused:
        engine.cosign_activity(cast.agency, p, a.details["activity_id"])
    assert refused.value.rule == "other-side-cosigns"


def test_every_engine_event_gets_a_merkle_leaf_in_the_same_transaction(engine, cast):
    """Fails if the recorder hook that writes the verifiable log stops firing."""

    cast.pairing_in_force()
    log = engine.recorder.audit
    # Counted rather than compared with the last id: PostgreSQL's ids may have gaps.
    notifications = engine.recorder.select_notifications(start=None, limit=10_000)
    assert log.tree_size() == len(notifications) > 0
    assert [log.leaf(i).notification_id for i in range(log.tree_size())] == [n.id for n in notifications]


def test_a_batch_writes_its_commands_in_one_transaction(engine, cast):
    before = count_events(engine)
    with engine.batch():
        p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
        engine.accept_pairing(cast.villager, p.id)  # sees the proposal made in the batch
        assert count_events(engine) == before
    assert count_events(engine) == before + 4  # proposal, slot opened and taken, acceptance
    assert engine.load(Pairing, p.id).state == "accepted"


def test_a_batch_that_raises_writes_nothing(engine, cast):
    before = count_events(engine)
    with pytest.raises(WrongState):
        with engine.batch():
            p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1), date(2026, 1, 1))
            engine.sign_agreement(cast.agency, p.id, date(2025, 3, 1))
    assert count_events(engine) == before
