"""PublicCommitment: every transition in docs/domain.md (Public commitments) and every refusal."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID, uuid4

import pytest

from domain.commitment import CATEGORIES, FINAL_STATES, STATES, PublicCommitment
from domain.errors import DomainError, InvalidValue, NotPermitted, WrongState
from tests.domain_support import (
    GIVER, PAIRING, RECEIVER, SHA, STRANGER, at, by, clerk_for, day, event_names, replay,
    state_of, system, through_the_store,
)
from tests.domain_support import commitment_in_state as in_state
from tests.domain_support import make_commitment as make



def refused(c: PublicCommitment, error: type[DomainError], command: Callable[[], None]) -> Any:
    """The command is refused with ``error`` and changes nothing."""
    before, version, pending = state_of(c), c.version, len(c.pending_events)
    with pytest.raises(error) as info:
        command()
    assert state_of(c) == before
    assert c.version == version
    assert len(c.pending_events) == pending
    return info.value


# -- transitions -----------------------------------------------------------------------------

class TestMake:
    def test_giver_makes_a_commitment_in_draft(self) -> None:
        c = make()
        assert c.state == "draft"
        assert c.version == 1
        assert (c.maker_id, c.beneficiary_id) == (GIVER, RECEIVER)
        assert c.due_on == c.original_due_on == day(30)
        assert c.amount_yuan == Decimal("50000.00") and c.quantity is None
        (made,) = c.collect_events()
        assert type(made).__name__ == "CommitmentMade"
        assert made.actor == {"user_id": "agency-user", "role": "agency",
                              "organisation_id": str(GIVER)}
        assert made.on_behalf_of is None and made.occurred_at == at(0)
        assert made.made_by == "giver" and made.pairing_id == PAIRING

    def test_receiver_makes_a_commitment_to_the_giver(self) -> None:
        c = make("receiver", category="org_life", amount_yuan=None, quantity=Decimal("4"),
                 unit="次")
        assert (c.maker_id, c.beneficiary_id) == (RECEIVER, GIVER)
        assert (c.quantity, c.unit) == (Decimal("4"), "次")

    def test_a_clerk_may_make_it_on_the_makers_behalf(self) -> None:
        c = PublicCommitment.make(clerk_for(RECEIVER), PAIRING, GIVER, RECEIVER, "receiver",
                                  "practical_matter", "修缮村道", day(60), Decimal("1.5"), "公里")
        assert c.maker_id == RECEIVER
        assert c.collect_events()[0].on_behalf_of == RECEIVER

    def test_both_targets_may_be_given(self) -> None:
        c = make(quantity=Decimal("2"), unit="场", amount_yuan=Decimal("1000"))
        assert (c.quantity, c.unit, c.amount_yuan) == (Decimal("2"), "场", Decimal("1000"))

    @pytest.mark.parametrize("category", CATEGORIES)
    def test_every_category(self, category: str) -> None:
        assert make(category=category).category == category

    def test_due_on_may_be_the_day_it_is_made(self) -> None:
        assert make(due_on=day(0)).due_on == day(0)

    def test_text_is_trimmed(self) -> None:
        c = make(content="  送技术下乡  ", quantity=Decimal("3"), unit=" 次 ", amount_yuan=None)
        assert (c.content, c.unit) == ("送技术下乡", "次")


class TestPublicise:
    def test_maker_publicises(self) -> None:
        c = make()
        c.publicise(by(GIVER, at(1)), " 党务公开栏 ", day(1))
        assert c.state == "public"
        assert (c.publicity_channel, c.publicised_on) == ("党务公开栏", day(1))
        assert event_names(c.collect_events())[-1] == "CommitmentPublicised"


class TestProgress:
    def test_progress_keeps_it_public_and_records_what_was_achieved(self) -> None:
        c = in_state("public")
        c.report_progress(by(GIVER, at(5)), "已到位两万元", amount_yuan=Decimal("20000.00"),
                          evidence_sha256=SHA.upper())
        c.report_progress(by(GIVER, at(6)), "走访对接")
        assert c.state == "public"
        assert c.progress_reports == 2 and c.last_progress_at == at(6)
        assert c.achieved_amount_yuan == Decimal("20000.00")
        events = c.collect_events()
        assert event_names(events)[-2:] == ["ProgressReported", "ProgressReported"]
        assert events[-2].evidence_sha256 == SHA  # normalised to lower case

    def test_progress_in_quantity(self) -> None:
        c = make(quantity=Decimal("10"), unit="人次", amount_yuan=None)
        c.publicise(by(GIVER, at(1)), "公示栏", day(1))
        c.report_progress(by(GIVER, at(2)), "培训三人次", quantity=Decimal("3"))
        assert c.achieved_quantity == Decimal("3")


class TestExtendDeadline:
    def test_extension_keeps_the_original_due_date_on_record(self) -> None:
        c = in_state("public")
        c.extend_deadline(by(GIVER, at(20)), day(45), "  资金拨付流程延后 ")
        c.extend_deadline(by(GIVER, at(21)), day(50), "再次延期")
        assert (c.due_on, c.original_due_on, c.extensions) == (day(50), day(30), 2)
        ev = c.collect_events()[-2]
        assert type(ev).__name__ == "DeadlineExtended"
        assert (ev.previous_due_on, ev.new_due_on, ev.reason) == (day(30), day(45),
                                                                  "资金拨付流程延后")


class TestOverdue:
    def test_the_workflow_marks_it_overdue_the_day_after_it_was_due(self) -> None:
        c = in_state("public")
        c.mark_overdue(system(at(31)), day(31))
        assert c.state == "overdue" and c.was_overdue and c.marked_overdue_on == day(31)
        ev = c.collect_events()[-1]
        assert type(ev).__name__ == "CommitmentOverdue"
        assert (ev.due_on, ev.detected_on) == (day(30), day(31))
        assert ev.actor["role"] == "system"

    def test_an_extended_deadline_is_the_one_that_counts(self) -> None:
        c = in_state("public")
        c.extend_deadline(by(GIVER, at(20)), day(45), "延期")
        refused(c, InvalidValue, lambda: c.mark_overdue(system(at(31)), day(31)))
        c.mark_overdue(system(at(46)), day(46))
        assert c.state == "overdue"


class TestClaimAndConfirm:
    @pytest.mark.parametrize("made_by", ["giver", "receiver"])
    def test_claim_then_the_beneficiary_confirms(self, made_by: str) -> None:
        c = in_state("public", made_by)
        c.claim_fulfilment(by(c.maker_id, at(10)), note="资金已拨付", evidence_sha256=SHA)
        assert c.state == "claimed" and c.claimed_at == at(10) and c.claimed_from == "public"
        assert c.claim_evidence_sha256 == SHA and c.claim_note == "资金已拨付"
        c.confirm_fulfilment(by(c.beneficiary_id, at(11)))
        assert c.state == "fulfilled" and c.fulfilled_at == at(11)
        assert c.confirmed_by is not None
        assert c.confirmed_by["organisation_id"] == str(c.beneficiary_id)
        assert event_names(c.collect_events())[-2:] == ["FulfilmentClaimed", "FulfilmentConfirmed"]
        assert c.fulfilled_on_time is True

    def test_claim_from_overdue_and_late_fulfilment(self) -> None:
        c = in_state("overdue")
        c.claim_fulfilment(by(GIVER, at(35)))
        assert c.claimed_from == "overdue" and c.claim_note is None
        c.confirm_fulfilment(by(RECEIVER, at(35)))  # the same instant as the claim is fine
        assert c.state == "fulfilled"
        assert c.fulfilled_on_time is False

    def test_a_clerk_confirms_for_the_village(self) -> None:
        c = in_state("claimed")
        c.confirm_fulfilment(clerk_for(RECEIVER, at(12)))
        assert c.state == "fulfilled"

    def test_on_time_is_judged_by_the_claim_against_the_original_due_date(self) -> None:
        c = in_state("public")
        c.extend_deadline(by(GIVER, at(20)), day(45), "延期")
        c.claim_fulfilment(by(GIVER, at(40)))
        c.confirm_fulfilment(by(RECEIVER, at(41)))
        assert c.fulfilled_on_time is False
        assert in_state("public").fulfilled_on_time is None


class TestDispute:
    def test_dispute_returns_a_public_claim_to_public(self) -> None:
        c = in_state("claimed")
        c.dispute_fulfilment(by(RECEIVER, at(11)), "款项未到账")
        assert c.state == "public" and c.disputes == 1
        assert c.claimed_at is None and c.last_dispute_reason == "款项未到账"
        ev = c.collect_events()[-1]
        assert type(ev).__name__ == "FulfilmentDisputed" and ev.back_to == "public"

    def test_dispute_returns_an_overdue_claim_to_overdue(self) -> None:
        c = in_state("overdue")
        c.claim_fulfilment(by(GIVER, at(32)))
        c.dispute_fulfilment(by(RECEIVER, at(33)), "证明材料不全")
        assert c.state == "overdue"

    def test_claim_again_after_a_dispute(self) -> None:
        c = in_state("claimed")
        c.dispute_fulfilment(by(RECEIVER, at(11)), "未到账")
        c.claim_fulfilment(by(GIVER, at(13)))
        refused(c, InvalidValue, lambda: c.confirm_fulfilment(by(RECEIVER, at(12))))
        c.confirm_fulfilment(by(RECEIVER, at(14)))
        assert c.state == "fulfilled" and c.claims == 2


class TestAbandon:
    @pytest.mark.parametrize("from_state", ["public", "overdue"])
    @pytest.mark.parametrize("explained", [True, False])
    def test_abandon(self, from_state: str, explained: bool) -> None:
        c = in_state(from_state)
        c.abandon(by(GIVER, at(33)), "上级项目取消", explained_to_public=explained)
        assert c.state == "not_fulfilled"
        assert (c.abandon_reason, c.explained_to_public) == ("上级项目取消", explained)
        assert c.abandoned_at == at(33)
        assert event_names(c.collect_events())[-1] == "CommitmentAbandoned"


class TestEvaluate:
    @pytest.mark.parametrize("outcome,reason", [("kept", None), ("kept", "按期兑现"),
                                                ("partial", "只到位一半"), ("broken", "未落实")])
    def test_evaluate_a_fulfilled_commitment(self, outcome: str, reason: str | None) -> None:
        c = in_state("fulfilled")
        c.evaluate(by(None, at(40), role="evaluator"), outcome, reason)
        assert c.state == "evaluated" and c.outcome == outcome and c.evaluation_reason == reason
        assert c.evaluated_at == at(40)
        assert event_names(c.collect_events())[-1] == "CommitmentEvaluated"

    @pytest.mark.parametrize("outcome", ["partial", "broken"])
    def test_evaluate_an_abandoned_commitment(self, outcome: str) -> None:
        c = in_state("not_fulfilled")
        c.evaluate(by(None, at(40), role="evaluator"), outcome, "客观原因")
        assert c.state == "evaluated" and c.outcome == outcome

    def test_the_beneficiary_may_take_part_in_the_evaluation(self) -> None:
        c = in_state("fulfilled")
        c.evaluate(by(RECEIVER, at(40)), "kept")
        assert c.state == "evaluated"


class TestDerived:
    def test_days_overdue(self) -> None:
        c = in_state("public")
        assert c.days_overdue(day(30)) == 0
        assert c.days_overdue(day(40)) == 10
        assert in_state("fulfilled").days_overdue(day(40)) == 0


# -- refusals --------------------------------------------------------------------------------

def _commands() -> dict[str, tuple[tuple[str, ...], Callable[[PublicCommitment], None]]]:
    """Each command: the states it is allowed in, and a call that is valid in such a state."""
    late = at(60)
    return {
        "publicise": (("draft",), lambda c: c.publicise(by(GIVER, late), "公示栏", day(1))),
        "report progress": (("public",), lambda c: c.report_progress(by(GIVER, late), "进展")),
        "extend the deadline": (("public",),
                                lambda c: c.extend_deadline(by(GIVER, late), day(90), "延期")),
        "mark overdue": (("public",), lambda c: c.mark_overdue(system(late), day(60))),
        "claim fulfilment": (("public", "overdue"),
                             lambda c: c.claim_fulfilment(by(GIVER, late))),
        "confirm fulfilment": (("claimed",), lambda c: c.confirm_fulfilment(by(RECEIVER, late))),
        "dispute fulfilment": (("claimed",),
                               lambda c: c.dispute_fulfilment(by(RECEIVER, late), "异议")),
        "abandon": (("public", "overdue"),
                    lambda c: c.abandon(by(GIVER, late), "无法兑现", True)),
        "evaluate": (("fulfilled", "not_fulfilled"),
                     lambda c: c.evaluate(by(None, late, role="evaluator"), "broken", "未兑现")),
    }


WRONG_STATE_CASES = [
    (command, state)
    for command, (allowed, _) in _commands().items()
    for state in STATES if state not in allowed
]
RIGHT_STATE_CASES = [
    (command, state)
    for command, (allowed, _) in _commands().items()
    for state in allowed
]


@pytest.mark.parametrize("command,state", WRONG_STATE_CASES)
def test_wrong_state_names_the_state_and_the_command(command: str, state: str) -> None:
    c = in_state(state)
    error = refused(c, WrongState, lambda: _commands()[command][1](c))
    assert (error.state, error.command) == (state, command)
    assert str(error) == f"commitment is {state}: cannot {command}"


@pytest.mark.parametrize("command,state", RIGHT_STATE_CASES)
def test_every_command_is_accepted_where_the_design_allows_it(command: str, state: str) -> None:
    c = in_state(state)
    _commands()[command][1](c)
    assert c.state != state or command in ("report progress", "extend the deadline")


def test_final_state_leaves_for_nothing() -> None:
    assert FINAL_STATES == ("evaluated",)
    c = in_state("evaluated")
    for _, call in _commands().values():
        refused(c, WrongState, lambda call=call: call(c))


class TestMakeRefusals:
    @pytest.mark.parametrize("field", ["pairing_id", "giver_id", "receiver_id"])
    def test_ids_must_be_uuids(self, field: str) -> None:
        with pytest.raises(InvalidValue) as info:
            make(**{field: str(uuid4())})
        assert info.value.field == field

    def test_giver_and_receiver_differ(self) -> None:
        with pytest.raises(InvalidValue):
            PublicCommitment.make(by(GIVER), PAIRING, GIVER, GIVER, "giver", "funds", "x",
                                  day(3), amount_yuan=Decimal("1"))

    @pytest.mark.parametrize("made_by", ["agency", "", None, "GIVER"])
    def test_made_by_is_giver_or_receiver(self, made_by: Any) -> None:
        with pytest.raises(InvalidValue) as info:
            PublicCommitment.make(by(GIVER), PAIRING, GIVER, RECEIVER, made_by, "funds", "x",
                                  day(3), amount_yuan=Decimal("1"))
        assert info.value.field == "made_by"

    @pytest.mark.parametrize("who", [RECEIVER, STRANGER, None])
    def test_only_the_maker_makes_it(self, who: UUID | None) -> None:
        with pytest.raises(NotPermitted) as info:
            PublicCommitment.make(by(who), PAIRING, GIVER, RECEIVER, "giver", "funds", "x",
                                  day(3), amount_yuan=Decimal("1"))
        assert info.value.rule == "maker-only"

    def test_one_side_does_not_make_the_other_sides_commitment_on_its_behalf(self) -> None:
        with pytest.raises(NotPermitted) as info:
            PublicCommitment.make(by(GIVER, on_behalf_of=RECEIVER), PAIRING, GIVER, RECEIVER,
                                  "receiver", "funds", "x", day(3), amount_yuan=Decimal("1"))
        assert info.value.rule == "cross-side-representation"

    @pytest.mark.parametrize("category", ["", "money", None, "FUNDS"])
    def test_category_from_the_list(self, category: Any) -> None:
        with pytest.raises(InvalidValue) as info:
            make(category=category)
        assert info.value.field == "category"

    @pytest.mark.parametrize("content", ["", "   ", None, "x" * 2001, 42])
    def test_content_is_non_blank_bounded_text(self, content: Any) -> None:
        with pytest.raises(InvalidValue) as info:
            make(content=content)
        assert info.value.field == "content"

    @pytest.mark.parametrize("due_on", [at(30), "2026-04-01", None, day(-1)])
    def test_due_on_is_a_date_not_before_the_commitment(self, due_on: Any) -> None:
        with pytest.raises(InvalidValue) as info:
            make(due_on=due_on)
        assert info.value.field == "due_on"

    @pytest.mark.parametrize("target,field", [
        (dict(quantity=None, unit=None, amount_yuan=None), "quantity"),
        (dict(quantity=Decimal("3"), unit=None, amount_yuan=None), "unit"),
        (dict(quantity=None, unit="次", amount_yuan=None), "quantity"),
        (dict(quantity=Decimal("0"), unit="次", amount_yuan=None), "quantity"),
        (dict(quantity=Decimal("-1"), unit="次", amount_yuan=None), "quantity"),
        (dict(quantity=Decimal("NaN"), unit="次", amount_yuan=None), "quantity"),
        (dict(quantity=Decimal("Infinity"), unit="次", amount_yuan=None), "quantity"),
        (dict(quantity=3, unit="次", amount_yuan=None), "quantity"),
        (dict(quantity=3.0, unit="次", amount_yuan=None), "quantity"),
        (dict(quantity=Decimal("0.00001"), unit="次", amount_yuan=None), "quantity"),
        (dict(quantity=Decimal("3"), unit="  ", amount_yuan=None), "unit"),
        (dict(quantity=Decimal("3"), unit="x" * 21, amount_yuan=None), "unit"),
        (dict(amount_yuan=Decimal("0")), "amount_yuan"),
        (dict(amount_yuan=Decimal("-0.01")), "amount_yuan"),
        (dict(amount_yuan=Decimal("0.001")), "amount_yuan"),
        (dict(amount_yuan=Decimal("sNaN")), "amount_yuan"),
        (dict(amount_yuan=Decimal("1E+13")), "amount_yuan"),
        (dict(amount_yuan="50000.00"), "amount_yuan"),
        (dict(amount_yuan=True), "amount_yuan"),
    ])
    def test_a_measurable_valid_target_is_required(self, target: dict[str, Any],
                                                   field: str) -> None:
        with pytest.raises(InvalidValue) as info:
            make(**target)
        assert info.value.field == field


class TestSideRefusals:
    @pytest.mark.parametrize("who", [RECEIVER, STRANGER, None])
    @pytest.mark.parametrize("command,state,call", [
        ("publicise", "draft", lambda c, b: c.publicise(b, "公示栏", day(1))),
        ("report progress", "public", lambda c, b: c.report_progress(b, "进展")),
        ("extend the deadline", "public", lambda c, b: c.extend_deadline(b, day(40), "延期")),
        ("claim fulfilment", "public", lambda c, b: c.claim_fulfilment(b)),
        ("abandon the commitment", "overdue", lambda c, b: c.abandon(b, "放弃", True)),
    ])
    def test_only_the_maker(self, who: UUID | None, command: str, state: str,
                            call: Callable[..., None]) -> None:
        c = in_state(state)
        error = refused(c, NotPermitted, lambda: call(c, by(who, at(32))))
        assert error.rule == "maker-only" and command in str(error)

    def test_the_beneficiary_cannot_act_for_the_maker_through_representation(self) -> None:
        c = in_state("public")
        error = refused(c, NotPermitted, lambda: c.claim_fulfilment(
            by(RECEIVER, at(10), on_behalf_of=GIVER)))
        assert error.rule == "cross-side-representation"

    @pytest.mark.parametrize("made_by", ["giver", "receiver"])
    def test_the_maker_can_never_confirm_its_own_fulfilment(self, made_by: str) -> None:
        c = in_state("claimed", made_by)
        error = refused(c, NotPermitted, lambda: c.confirm_fulfilment(by(c.maker_id, at(12))))
        assert error.rule == "own-confirmation"

    def test_not_even_by_typing_for_the_beneficiary(self) -> None:
        # a 第一书记 seconded from the agency, entering data for the village
        c = in_state("claimed")
        error = refused(c, NotPermitted, lambda: c.confirm_fulfilment(
            by(GIVER, at(12), on_behalf_of=RECEIVER)))
        assert error.rule == "own-confirmation"

    @pytest.mark.parametrize("who", [STRANGER, None])
    def test_only_the_beneficiary_confirms(self, who: UUID | None) -> None:
        c = in_state("claimed")
        error = refused(c, NotPermitted, lambda: c.confirm_fulfilment(by(who, at(12))))
        assert error.rule == "beneficiary-only"

    @pytest.mark.parametrize("who", [GIVER, STRANGER, None])
    def test_only_the_beneficiary_disputes(self, who: UUID | None) -> None:
        c = in_state("claimed")
        error = refused(c, NotPermitted, lambda: c.dispute_fulfilment(by(who, at(12)), "异议"))
        assert error.rule == "beneficiary-only"

    def test_the_maker_does_not_evaluate_itself(self) -> None:
        c = in_state("fulfilled")
        error = refused(c, NotPermitted, lambda: c.evaluate(by(GIVER, at(40)), "kept"))
        assert error.rule == "own-evaluation"
        error = refused(c, NotPermitted, lambda: c.evaluate(
            by(GIVER, at(40), on_behalf_of=STRANGER), "kept"))
        assert error.rule == "own-evaluation"


class TestReasonRefusals:
    @pytest.mark.parametrize("reason", ["", "   ", None, 7, "x" * 2001])
    @pytest.mark.parametrize("state,call", [
        ("public", lambda c, r: c.extend_deadline(by(GIVER, at(20)), day(40), r)),
        ("claimed", lambda c, r: c.dispute_fulfilment(by(RECEIVER, at(12)), r)),
        ("public", lambda c, r: c.abandon(by(GIVER, at(20)), r, True)),
        ("fulfilled", lambda c, r: c.evaluate(by(None, at(40)), "partial", r)),
        ("not_fulfilled", lambda c, r: c.evaluate(by(None, at(40)), "broken", r)),
    ])
    def test_a_reason_is_required(self, reason: Any, state: str,
                                  call: Callable[..., None]) -> None:
        c = in_state(state)
        error = refused(c, InvalidValue, lambda: call(c, reason))
        assert error.field == "reason"


class TestDateRefusals:
    def test_confirmation_never_dated_before_the_claim(self) -> None:
        c = in_state("claimed")  # claimed at(10)
        error = refused(c, InvalidValue, lambda: c.confirm_fulfilment(by(RECEIVER, at(9.9))))
        assert error.field == "occurred_at" and "before the fulfilment claim" in str(error)

    def test_dispute_never_dated_before_the_claim(self) -> None:
        c = in_state("claimed")
        refused(c, InvalidValue, lambda: c.dispute_fulfilment(by(RECEIVER, at(9)), "异议"))

    def test_claim_never_dated_before_the_commitment(self) -> None:
        c = make(when=at(5))
        c.publicise(by(GIVER, at(6)), "公示栏", day(6))
        refused(c, InvalidValue, lambda: c.claim_fulfilment(by(GIVER, at(4))))

    def test_evaluation_never_dated_before_the_outcome(self) -> None:
        c = in_state("fulfilled")  # confirmed at(12)
        refused(c, InvalidValue, lambda: c.evaluate(by(None, at(11)), "kept"))
        d = in_state("not_fulfilled")  # abandoned at(5)
        refused(d, InvalidValue, lambda: d.evaluate(by(None, at(4)), "broken", "未兑现"))

    def test_publicised_on_is_a_date_not_before_the_commitment(self) -> None:
        c = make(when=at(3))
        for bad in (day(2), at(4), "2026-03-05", None):
            assert refused(c, InvalidValue,
                           lambda bad=bad: c.publicise(by(GIVER, at(4)), "公示栏", bad)
                           ).field == "publicised_on"

    @pytest.mark.parametrize("new_due_on", [day(30), day(29), at(40), None])
    def test_the_new_due_date_is_a_later_date(self, new_due_on: Any) -> None:
        c = in_state("public")
        error = refused(c, InvalidValue, lambda: c.extend_deadline(by(GIVER, at(20)),
                                                                    new_due_on, "延期"))
        assert error.field == "new_due_on"

    @pytest.mark.parametrize("today", [day(0), day(29), day(30)])
    def test_not_overdue_until_after_the_due_date(self, today: Any) -> None:
        c = in_state("public")
        assert refused(c, InvalidValue,
                       lambda: c.mark_overdue(system(), today)).field == "today"

    @pytest.mark.parametrize("today", [at(31), "2026-04-02", None])
    def test_today_is_a_date(self, today: Any) -> None:
        c = in_state("public")
        assert refused(c, InvalidValue,
                       lambda: c.mark_overdue(system(), today)).field == "today"


class TestValueRefusals:
    @pytest.mark.parametrize("channel", ["", "  ", None, "x" * 101, 3])
    def test_channel(self, channel: Any) -> None:
        c = make()
        assert refused(c, InvalidValue, lambda: c.publicise(by(GIVER, at(1)), channel, day(1))
                       ).field == "channel"

    @pytest.mark.parametrize("note", ["", " ", None, "x" * 2001])
    def test_progress_needs_a_note(self, note: Any) -> None:
        c = in_state("public")
        assert refused(c, InvalidValue, lambda: c.report_progress(by(GIVER, at(2)), note)
                       ).field == "note"

    def test_progress_in_a_measure_the_commitment_does_not_have(self) -> None:
        c = in_state("public")  # an amount target only
        assert refused(c, InvalidValue, lambda: c.report_progress(
            by(GIVER, at(2)), "进展", quantity=Decimal("1"))).field == "quantity"
        d = make(quantity=Decimal("3"), unit="次", amount_yuan=None)
        d.publicise(by(GIVER, at(1)), "公示栏", day(1))
        assert refused(d, InvalidValue, lambda: d.report_progress(
            by(GIVER, at(2)), "进展", amount_yuan=Decimal("1"))).field == "amount_yuan"

    @pytest.mark.parametrize("amount", [Decimal("-1"), Decimal("NaN"), 5, Decimal("0.005")])
    def test_progress_amount(self, amount: Any) -> None:
        c = in_state("public")
        assert refused(c, InvalidValue, lambda: c.report_progress(
            by(GIVER, at(2)), "进展", amount_yuan=amount)).field == "amount_yuan"

    def test_progress_may_be_zero(self) -> None:
        c = in_state("public")
        c.report_progress(by(GIVER, at(2)), "尚未到位", amount_yuan=Decimal("-0"))
        assert c.achieved_amount_yuan == 0 and str(c.achieved_amount_yuan) == "0"

    @pytest.mark.parametrize("sha", ["", "ab" * 31, "ab" * 33, "zz" * 32, 123, "ab" * 31 + "a "])
    def test_evidence_is_a_sha256_digest(self, sha: Any) -> None:
        c = in_state("public")
        assert refused(c, InvalidValue, lambda: c.claim_fulfilment(
            by(GIVER, at(10)), evidence_sha256=sha)).field == "evidence_sha256"
        assert refused(c, InvalidValue, lambda: c.report_progress(
            by(GIVER, at(10)), "进展", evidence_sha256=sha)).field == "evidence_sha256"

    @pytest.mark.parametrize("note", ["", "  ", "x" * 2001, 1])
    def test_a_claim_note_if_given_is_text(self, note: Any) -> None:
        c = in_state("public")
        assert refused(c, InvalidValue, lambda: c.claim_fulfilment(
            by(GIVER, at(10)), note=note)).field == "note"

    @pytest.mark.parametrize("explained", [None, "yes", 1, 0])
    def test_explained_to_public_is_a_bool(self, explained: Any) -> None:
        c = in_state("public")
        assert refused(c, InvalidValue, lambda: c.abandon(
            by(GIVER, at(10)), "放弃", explained)).field == "explained_to_public"

    @pytest.mark.parametrize("outcome", ["", "fulfilled", None, "KEPT"])
    def test_outcome(self, outcome: Any) -> None:
        c = in_state("fulfilled")
        assert refused(c, InvalidValue, lambda: c.evaluate(
            by(None, at(40)), outcome, "理由")).field == "outcome"

    def test_an_abandoned_commitment_is_not_kept(self) -> None:
        c = in_state("not_fulfilled")
        assert refused(c, InvalidValue, lambda: c.evaluate(
            by(None, at(40)), "kept", "理由")).field == "outcome"

    def test_a_reason_given_for_kept_is_still_checked(self) -> None:
        c = in_state("fulfilled")
        assert refused(c, InvalidValue, lambda: c.evaluate(
            by(None, at(40)), "kept", "  ")).field == "reason"


# -- replay ----------------------------------------------------------------------------------

def test_replaying_a_whole_life_gives_the_same_commitment() -> None:
    c = make("receiver", quantity=Decimal("4"), unit="次", amount_yuan=None)
    history: list[Any] = list(c.collect_events())
    c.publicise(by(RECEIVER, at(1)), "村务公开栏", day(1))
    c.report_progress(by(RECEIVER, at(3)), "完成一次", quantity=Decimal("1"), evidence_sha256=SHA)
    c.extend_deadline(by(RECEIVER, at(20)), day(40), "农忙")
    c.mark_overdue(system(at(41)), day(41))
    c.claim_fulfilment(clerk_for(RECEIVER, at(42)), note="四次已完成")
    c.dispute_fulfilment(by(GIVER, at(43)), "缺一次记录")
    c.claim_fulfilment(by(RECEIVER, at(44)), evidence_sha256=SHA)
    c.confirm_fulfilment(by(GIVER, at(45)))
    c.evaluate(by(None, at(60), role="evaluator"), "partial", "逾期")
    history += c.collect_events()
    assert event_names(history) == [
        "CommitmentMade", "CommitmentPublicised", "ProgressReported", "DeadlineExtended",
        "CommitmentOverdue", "FulfilmentClaimed", "FulfilmentDisputed", "FulfilmentClaimed",
        "FulfilmentConfirmed", "CommitmentEvaluated",
    ]
    assert [e.originator_version for e in history] == list(range(1, 11))
    rebuilt = replay(history)
    assert rebuilt == c
    assert rebuilt.state == "evaluated" and rebuilt.was_overdue
    assert rebuilt.claimed_from == "overdue"
    assert rebuilt.original_due_on == day(30) and rebuilt.due_on == day(40)
    # step by step too: every prefix rebuilds the state the aggregate had then
    assert replay(history[:7]).state == "overdue"
    assert replay(history[:5]).state == "overdue"
    assert replay(history[:4]).due_on == day(40)


def test_every_event_carries_the_attribution() -> None:
    c = in_state("evaluated")
    for e in c.collect_events():
        assert set(e.actor) == {"user_id", "role", "organisation_id"}
        assert isinstance(e.occurred_at, datetime) and e.occurred_at.tzinfo is not None
        assert hasattr(e, "on_behalf_of")


@pytest.mark.parametrize("snapshot", [False, True])
@pytest.mark.parametrize("state", STATES)
def test_through_an_event_store_and_back(state: str, snapshot: bool) -> None:
    c = in_state(state, "receiver")
    if state == "public":
        c.report_progress(by(RECEIVER, at(2)), "进展", amount_yuan=Decimal("0.50"),
                          evidence_sha256=SHA)
        c.extend_deadline(by(RECEIVER, at(3)), day(35), "延期")
    back = through_the_store(c, snapshot)
    assert back == c and back.state == state
