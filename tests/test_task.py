"""ServiceTask: every transition in docs/domain.md (三张清单) and every refusal."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID

import pytest

from domain.errors import DomainError, InvalidValue, NotPermitted, WrongState
from domain.task import CATEGORIES, FINAL_STATES, LEVELS, STATES, ServiceTask
from tests.domain_support import (
    CST, GIVER, RECEIVER, STRANGER, at, by, clerk_for, day, event_names, raise_need, replay,
    state_of, system, through_the_store,
)
from tests.domain_support import task_in_state as in_state

SHA = "0f" * 32


def refused(t: ServiceTask, error: type[DomainError], command: Callable[[], None]) -> Any:
    """The command is refused with ``error`` and changes nothing."""
    before, version, pending = state_of(t), t.version, len(t.pending_events)
    with pytest.raises(error) as info:
        command()
    assert state_of(t) == before
    assert t.version == version
    assert len(t.pending_events) == pending
    return info.value


# -- transitions -----------------------------------------------------------------------------

class TestRaiseNeed:
    def test_the_village_raises_a_need(self) -> None:
        t = raise_need()
        assert t.state == "open" and t.version == 1
        assert (t.receiver_id, t.category, t.title, t.wanted_by) == (
            RECEIVER, "infrastructure", "村道路灯维修", day(45))
        assert t.claimer_id is None and t.raised_at == at(0)
        (raised,) = t.collect_events()
        assert type(raised).__name__ == "NeedRaised"
        assert raised.actor["organisation_id"] == str(RECEIVER)
        assert raised.details == "主路十二盏路灯损坏"

    def test_details_and_wanted_by_are_optional(self) -> None:
        t = raise_need(details=None, wanted_by=None)
        assert t.details is None and t.wanted_by is None

    def test_a_clerk_raises_it_for_the_village(self) -> None:
        t = ServiceTask.raise_need(clerk_for(RECEIVER), RECEIVER, "elderly_care", "助餐点")
        assert t.collect_events()[0].on_behalf_of == RECEIVER

    @pytest.mark.parametrize("category", CATEGORIES)
    def test_every_category(self, category: str) -> None:
        assert raise_need(category=category).category == category


class TestClaim:
    def test_a_paired_giver_claims_an_open_need(self) -> None:
        t = raise_need()
        t.claim(by(GIVER, at(1)), GIVER, paired_with_receiver=True)
        assert t.state == "claimed" and t.claimer_id == GIVER and t.claimed_from == "open"
        assert t.claimed_by_partner is True and t.claimed_at == at(1)
        assert event_names(t.collect_events())[-1] == "TaskClaimed"

    @pytest.mark.parametrize("paired", [True, False])
    def test_any_giver_claims_a_pooled_need(self, paired: bool) -> None:
        t = in_state("pooled")
        t.claim(by(STRANGER, at(32)), STRANGER, paired_with_receiver=paired)
        assert t.state == "claimed" and t.claimer_id == STRANGER and t.claimed_from == "pooled"
        # the pairing flag is kept: the original partner claiming late earns no bonus
        assert t.collect_events()[-1].paired_with_receiver is paired


class TestWithdrawClaim:
    def test_withdraw_back_to_open(self) -> None:
        t = in_state("claimed")
        t.withdraw_claim(by(GIVER, at(3)), "人手不足")
        assert t.state == "open" and t.claimer_id is None and t.withdrawn_claims == 1
        ev = t.collect_events()[-1]
        assert type(ev).__name__ == "ClaimWithdrawn" and ev.back_to == "open"
        assert ev.reason == "人手不足"

    def test_withdraw_back_to_the_pool(self) -> None:
        t = in_state("pooled")
        t.claim(by(STRANGER, at(32)), STRANGER, paired_with_receiver=False)
        t.withdraw_claim(by(STRANGER, at(33)), "无法承担")
        assert t.state == "pooled"
        t.claim(by(GIVER, at(34)), GIVER, paired_with_receiver=True)
        assert t.claimer_id == GIVER and t.claims == 2


class TestPool:
    def test_the_workflow_pools_an_unclaimed_need(self) -> None:
        t = raise_need()
        t.pool(system(at(30)), day(30), window_days=30)
        assert t.state == "pooled" and t.pooled_on == day(30)
        ev = t.collect_events()[-1]
        assert type(ev).__name__ == "NeedPooled" and ev.pooled_on == day(30)

    def test_without_a_window_the_caller_has_checked(self) -> None:
        t = raise_need()
        t.pool(system(at(0)), day(0))
        assert t.state == "pooled"


class TestPlanAndDeliver:
    def test_the_claimer_plans(self) -> None:
        t = in_state("claimed")
        t.plan(by(GIVER, at(2)), day(30), Decimal("8000.00"))
        assert t.state == "planned" and t.due_on == day(30) and t.budget_yuan == Decimal("8000.00")
        assert event_names(t.collect_events())[-1] == "TaskPlanned"

    def test_a_budget_is_optional(self) -> None:
        t = in_state("claimed")
        t.plan(by(GIVER, at(2)), day(1))  # due the day it was claimed is fine
        assert t.budget_yuan is None

    def test_the_claimer_reports_delivery(self) -> None:
        t = in_state("planned")
        t.report_delivery(by(GIVER, at(10, hours=1)), at(10), Decimal("7600.00"), " 已更换 ",
                          SHA.upper())
        assert t.state == "delivered" and t.delivered_at == at(10)
        assert t.delivery_reported_at == at(10, hours=1)
        assert (t.value_yuan, t.delivery_note, t.evidence_sha256) == (Decimal("7600.00"),
                                                                      "已更换", SHA)
        assert t.delivered_by is not None and t.delivered_by["organisation_id"] == str(GIVER)
        assert event_names(t.collect_events())[-1] == "DeliveryReported"

    def test_delivery_with_only_the_time(self) -> None:
        t = in_state("planned")
        delivered = datetime(2026, 3, 12, 9, 30, tzinfo=CST)  # 01:30 UTC
        t.report_delivery(by(GIVER, at(10, hours=1)), delivered)
        assert t.delivered_at == delivered and t.value_yuan is None


class TestConfirmAndReject:
    def test_the_receiver_confirms(self) -> None:
        t = in_state("delivered")
        t.confirm_delivery(by(RECEIVER, at(12)))
        assert t.state == "confirmed" and t.confirmed_at == at(12)
        assert t.confirmed_by is not None and t.confirmed_by["organisation_id"] == str(RECEIVER)
        assert event_names(t.collect_events())[-1] == "DeliveryConfirmed"

    def test_a_clerk_confirms_for_the_village_at_the_moment_of_the_report(self) -> None:
        t = in_state("delivered")
        t.confirm_delivery(clerk_for(RECEIVER, at(10, hours=1)))
        assert t.state == "confirmed"

    def test_the_receiver_rejects_back_to_planned(self) -> None:
        t = in_state("delivered")
        t.reject_delivery(by(RECEIVER, at(12)), "只修好了八盏")
        assert t.state == "planned" and t.rejections == 1
        assert t.delivered_at is None and t.last_rejection_reason == "只修好了八盏"
        assert event_names(t.collect_events())[-1] == "DeliveryRejected"
        t.report_delivery(by(GIVER, at(15)), at(15))
        t.confirm_delivery(by(RECEIVER, at(16)))
        assert t.state == "confirmed" and t.deliveries == 2


class TestConfirmationOverdue:
    def test_the_workflow_flags_an_unconfirmed_delivery_once(self) -> None:
        t = in_state("delivered")  # reported on day(10)
        t.flag_confirmation_overdue(system(at(25)), day(25), 15)
        assert t.state == "delivered" and t.confirmation_overdue and t.flagged
        assert t.confirmation_overdue_on == day(25)
        ev = t.collect_events()[-1]
        assert type(ev).__name__ == "ConfirmationOverdue"
        assert (ev.detected_on, ev.window_days, ev.reported_on) == (day(25), 15, day(10))
        error = refused(t, NotPermitted,
                        lambda: t.flag_confirmation_overdue(system(at(26)), day(26), 15))
        assert error.rule == "once-per-delivery"

    def test_a_flagged_delivery_can_still_be_confirmed(self) -> None:
        t = in_state("delivered")
        t.flag_confirmation_overdue(system(at(25)), day(25), 15)
        t.confirm_delivery(by(RECEIVER, at(26)))
        assert t.state == "confirmed" and not t.flagged

    def test_a_new_delivery_after_a_rejection_can_be_flagged_again(self) -> None:
        t = in_state("delivered")
        t.flag_confirmation_overdue(system(at(25)), day(25), 15)
        t.reject_delivery(by(RECEIVER, at(26)), "不合格")
        assert not t.confirmation_overdue
        t.report_delivery(by(GIVER, at(27)), at(27))
        refused(t, InvalidValue, lambda: t.flag_confirmation_overdue(system(), day(41), 15))
        t.flag_confirmation_overdue(system(at(42)), day(42), 15)
        assert t.flagged


class TestRateCloseCancel:
    @pytest.mark.parametrize("level", LEVELS)
    def test_the_receiver_rates(self, level: str) -> None:
        t = in_state("confirmed")
        t.rate_satisfaction(by(RECEIVER, at(13)), level)
        assert t.state == "rated" and t.satisfaction == level and t.satisfaction_comment is None
        assert event_names(t.collect_events())[-1] == "SatisfactionRated"

    @pytest.mark.parametrize("who", [system, lambda w: by(RECEIVER, w), lambda w: by(GIVER, w),
                                     lambda w: by(None, w)])
    def test_close(self, who: Callable[[datetime], Any]) -> None:
        t = in_state("rated")
        t.close(who(at(14)))
        assert t.state == "closed" and t.closed_at == at(14)
        assert event_names(t.collect_events())[-1] == "TaskClosed"

    @pytest.mark.parametrize("from_state", ["open", "pooled", "claimed", "planned"])
    def test_the_receiver_cancels(self, from_state: str) -> None:
        t = in_state(from_state)
        t.cancel(by(RECEIVER, at(40)), "  村里已自筹解决 ")
        assert t.state == "cancelled" and t.cancel_reason == "村里已自筹解决"
        assert t.cancelled_from == from_state
        assert event_names(t.collect_events())[-1] == "TaskCancelled"


# -- refusals --------------------------------------------------------------------------------

def _commands() -> dict[str, tuple[tuple[str, ...], Callable[[ServiceTask], None]]]:
    """Each command: the states it is allowed in, and a call that is valid in such a state."""
    late = at(60)
    return {
        "claim": (("open", "pooled"), lambda t: t.claim(by(GIVER, late), GIVER, True)),
        "withdraw the claim": (("claimed",),
                               lambda t: t.withdraw_claim(by(GIVER, late), "撤回")),
        "pool": (("open",), lambda t: t.pool(system(late), day(60), 30)),
        "plan": (("claimed",), lambda t: t.plan(by(GIVER, late), day(70))),
        "report delivery": (("planned",), lambda t: t.report_delivery(by(GIVER, late), late)),
        "confirm delivery": (("delivered",), lambda t: t.confirm_delivery(by(RECEIVER, late))),
        "reject delivery": (("delivered",),
                            lambda t: t.reject_delivery(by(RECEIVER, late), "退回")),
        "flag the confirmation overdue": (("delivered",),
                                          lambda t: t.flag_confirmation_overdue(
                                              system(late), day(60), 15)),
        "rate satisfaction": (("confirmed",),
                              lambda t: t.rate_satisfaction(by(RECEIVER, late), "satisfied")),
        "close": (("rated",), lambda t: t.close(system(late))),
        "cancel": (("open", "pooled", "claimed", "planned"),
                   lambda t: t.cancel(by(RECEIVER, late), "取消")),
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
    t = in_state(state)
    error = refused(t, WrongState, lambda: _commands()[command][1](t))
    assert (error.state, error.command) == (state, command)
    assert str(error) == f"task is {state}: cannot {command}"


@pytest.mark.parametrize("command,state", RIGHT_STATE_CASES)
def test_every_command_is_accepted_where_the_design_allows_it(command: str, state: str) -> None:
    t = in_state(state)
    _commands()[command][1](t)
    assert t.state != state or command == "flag the confirmation overdue"


@pytest.mark.parametrize("final", FINAL_STATES)
def test_final_states_leave_for_nothing(final: str) -> None:
    t = in_state(final)
    for _, call in _commands().values():
        refused(t, WrongState, lambda call=call: call(t))


class TestRaiseNeedRefusals:
    @pytest.mark.parametrize("who", [GIVER, STRANGER, None])
    def test_only_the_receiver_raises_its_need(self, who: UUID | None) -> None:
        with pytest.raises(NotPermitted) as info:
            ServiceTask.raise_need(by(who), RECEIVER, "education", "图书角")
        assert info.value.rule == "receiver-only"

    def test_receiver_id_is_a_uuid(self) -> None:
        with pytest.raises(InvalidValue) as info:
            raise_need(receiver_id=str(RECEIVER))
        assert info.value.field == "receiver_id"

    @pytest.mark.parametrize("field,value", [
        ("category", "roads"), ("category", None), ("category", ""),
        ("title", ""), ("title", "   "), ("title", None), ("title", "x" * 201), ("title", 5),
        ("details", "  "), ("details", "x" * 4001), ("details", 3),
        ("wanted_by", at(40)), ("wanted_by", "2026-04-01"), ("wanted_by", day(-1)),
    ])
    def test_values(self, field: str, value: Any) -> None:
        with pytest.raises(InvalidValue) as info:
            raise_need(**{field: value})
        assert info.value.field == field


class TestClaimRefusals:
    def test_an_unpaired_giver_waits_for_the_pool(self) -> None:
        t = raise_need()
        error = refused(t, NotPermitted, lambda: t.claim(by(STRANGER, at(1)), STRANGER, False))
        assert error.rule == "claim-window"

    @pytest.mark.parametrize("who", [RECEIVER, STRANGER, None])
    def test_a_giver_claims_for_itself_only(self, who: UUID | None) -> None:
        t = raise_need()
        error = refused(t, NotPermitted, lambda: t.claim(by(who, at(1)), GIVER, True))
        assert error.rule == "claimer-only"

    def test_the_receiver_cannot_claim_its_own_need(self) -> None:
        t = raise_need()
        error = refused(t, NotPermitted, lambda: t.claim(by(RECEIVER, at(1)), RECEIVER, True))
        assert error.rule == "own-need"

    def test_the_receiver_cannot_claim_on_a_givers_behalf(self) -> None:
        t = raise_need()
        error = refused(t, NotPermitted, lambda: t.claim(
            by(RECEIVER, at(1), on_behalf_of=GIVER), GIVER, True))
        assert error.rule == "cross-side-representation"

    @pytest.mark.parametrize("paired", [None, 1, "yes"])
    def test_paired_is_a_bool(self, paired: Any) -> None:
        t = raise_need()
        assert refused(t, InvalidValue, lambda: t.claim(by(GIVER, at(1)), GIVER, paired)
                       ).field == "paired_with_receiver"

    def test_giver_id_is_a_uuid(self) -> None:
        t = raise_need()
        assert refused(t, InvalidValue, lambda: t.claim(by(GIVER, at(1)), str(GIVER), True)
                       ).field == "giver_id"

    def test_not_claimed_before_it_was_raised(self) -> None:
        t = raise_need(when=at(5))
        assert refused(t, InvalidValue, lambda: t.claim(by(GIVER, at(4)), GIVER, True)
                       ).field == "occurred_at"


class TestPoolRefusals:
    @pytest.mark.parametrize("today", [day(29), day(0)])
    def test_not_before_the_claim_window_passed(self, today: Any) -> None:
        t = raise_need()
        assert refused(t, InvalidValue, lambda: t.pool(system(), today, 30)).field == "today"

    @pytest.mark.parametrize("today", [day(-1), at(31), None])
    def test_today_is_a_date_not_before_the_need(self, today: Any) -> None:
        t = raise_need()
        assert refused(t, InvalidValue, lambda: t.pool(system(), today)).field == "today"

    @pytest.mark.parametrize("window", [0, -3, 1.5, True, "30", 4000])
    def test_window_days(self, window: Any) -> None:
        t = raise_need()
        assert refused(t, InvalidValue, lambda: t.pool(system(), day(60), window)
                       ).field == "window_days"


class TestClaimerSideRefusals:
    @pytest.mark.parametrize("who", [RECEIVER, STRANGER, None])
    @pytest.mark.parametrize("state,call", [
        ("claimed", lambda t, b: t.withdraw_claim(b, "撤回")),
        ("claimed", lambda t, b: t.plan(b, day(30))),
        ("planned", lambda t, b: t.report_delivery(b, at(10))),
    ])
    def test_only_the_claimer(self, who: UUID | None, state: str,
                              call: Callable[..., None]) -> None:
        t = in_state(state)
        error = refused(t, NotPermitted, lambda: call(t, by(who, at(11))))
        assert error.rule == "claimer-only"

    def test_the_receiver_never_writes_the_givers_delivery_even_as_a_representative(self) -> None:
        t = in_state("planned")
        error = refused(t, NotPermitted, lambda: t.report_delivery(
            by(RECEIVER, at(11), on_behalf_of=GIVER), at(10)))
        assert error.rule == "cross-side-representation"


class TestReceiverSideRefusals:
    @pytest.mark.parametrize("command,state,call", [
        ("confirm delivery", "delivered", lambda t, b: t.confirm_delivery(b)),
        ("reject delivery", "delivered", lambda t, b: t.reject_delivery(b, "退回")),
        ("rate satisfaction", "confirmed", lambda t, b: t.rate_satisfaction(b, "satisfied")),
    ])
    @pytest.mark.parametrize("as_representative", [False, True])
    def test_the_deliverer_never_judges_its_own_delivery(
            self, command: str, state: str, call: Callable[..., None],
            as_representative: bool) -> None:
        t = in_state(state)
        b = by(GIVER, at(20), on_behalf_of=RECEIVER if as_representative else None)
        error = refused(t, NotPermitted, lambda: call(t, b))
        assert error.rule == ("own-rating" if command == "rate satisfaction"
                              else "own-confirmation")

    @pytest.mark.parametrize("who", [STRANGER, None])
    @pytest.mark.parametrize("state,call", [
        ("delivered", lambda t, b: t.confirm_delivery(b)),
        ("delivered", lambda t, b: t.reject_delivery(b, "退回")),
        ("confirmed", lambda t, b: t.rate_satisfaction(b, "satisfied")),
        ("planned", lambda t, b: t.cancel(b, "取消")),
        ("open", lambda t, b: t.cancel(b, "取消")),
    ])
    def test_only_the_receiver(self, who: UUID | None, state: str,
                               call: Callable[..., None]) -> None:
        t = in_state(state)
        error = refused(t, NotPermitted, lambda: call(t, by(who, at(20))))
        assert error.rule == "receiver-only"

    def test_the_claimer_cannot_cancel(self) -> None:
        t = in_state("planned")
        error = refused(t, NotPermitted, lambda: t.cancel(by(GIVER, at(20)), "不做了"))
        assert error.rule == "receiver-only"

    def test_a_stranger_cannot_close(self) -> None:
        t = in_state("rated")
        error = refused(t, NotPermitted, lambda: t.close(by(STRANGER, at(20))))
        assert error.rule == "party-only"
        error = refused(t, NotPermitted, lambda: t.close(by(GIVER, at(20),
                                                            on_behalf_of=RECEIVER)))
        assert error.rule == "cross-side-representation"


class TestReasonRefusals:
    @pytest.mark.parametrize("reason", ["", "   ", None, 0, "x" * 2001])
    @pytest.mark.parametrize("state,call", [
        ("claimed", lambda t, r: t.withdraw_claim(by(GIVER, at(3)), r)),
        ("delivered", lambda t, r: t.reject_delivery(by(RECEIVER, at(12)), r)),
        ("open", lambda t, r: t.cancel(by(RECEIVER, at(3)), r)),
        ("planned", lambda t, r: t.cancel(by(RECEIVER, at(3)), r)),
    ])
    def test_a_reason_is_required(self, reason: Any, state: str,
                                  call: Callable[..., None]) -> None:
        t = in_state(state)
        assert refused(t, InvalidValue, lambda: call(t, reason)).field == "reason"


class TestDateRefusals:
    def test_confirmation_never_dated_before_the_delivery(self) -> None:
        t = in_state("delivered")  # delivered at(10), reported at(10) + 1h
        error = refused(t, InvalidValue, lambda: t.confirm_delivery(by(RECEIVER, at(9))))
        assert error.field == "occurred_at" and "before the delivery it confirms" in str(error)

    def test_confirmation_never_dated_before_the_delivery_report(self) -> None:
        t = in_state("delivered")
        error = refused(t, InvalidValue, lambda: t.confirm_delivery(
            by(RECEIVER, at(10, hours=0.5))))
        assert "delivery report" in str(error)

    def test_rejection_never_dated_before_the_delivery(self) -> None:
        t = in_state("delivered")
        refused(t, InvalidValue, lambda: t.reject_delivery(by(RECEIVER, at(9)), "退回"))

    def test_rating_never_dated_before_the_confirmation(self) -> None:
        t = in_state("confirmed")  # confirmed at(12)
        refused(t, InvalidValue, lambda: t.rate_satisfaction(by(RECEIVER, at(11)), "satisfied"))

    def test_closing_never_dated_before_the_rating(self) -> None:
        t = in_state("rated")  # rated at(13)
        refused(t, InvalidValue, lambda: t.close(system(at(12))))

    @pytest.mark.parametrize("delivered_at", [
        at(-1),                                   # before the need existed
        at(12),                                   # after the report that tells of it
        datetime(2026, 3, 12, 9, 0),              # no offset
        day(10), "2026-03-12T09:00:00+08:00", None,
    ])
    def test_delivered_at(self, delivered_at: Any) -> None:
        t = in_state("planned")
        assert refused(t, InvalidValue, lambda: t.report_delivery(
            by(GIVER, at(11)), delivered_at)).field == "delivered_at"

    @pytest.mark.parametrize("due_on", [day(0), at(30), None])
    def test_plan_due_on_is_a_date_not_before_the_claim(self, due_on: Any) -> None:
        t = in_state("claimed")  # claimed at(1)
        assert refused(t, InvalidValue, lambda: t.plan(by(GIVER, at(2)), due_on)
                       ).field == "due_on"

    @pytest.mark.parametrize("today", [day(24), day(10)])
    def test_not_flagged_before_the_window_passed(self, today: Any) -> None:
        t = in_state("delivered")
        assert refused(t, InvalidValue, lambda: t.flag_confirmation_overdue(
            system(), today, 15)).field == "today"

    @pytest.mark.parametrize("today,window,field", [
        (at(30), 15, "today"), ("2026-04-01", 15, "today"),
        (day(30), 0, "window_days"), (day(30), False, "window_days"), (day(30), 1.0, "window_days"),
    ])
    def test_flag_values(self, today: Any, window: Any, field: str) -> None:
        t = in_state("delivered")
        assert refused(t, InvalidValue, lambda: t.flag_confirmation_overdue(
            system(), today, window)).field == field


class TestValueRefusals:
    @pytest.mark.parametrize("budget", [Decimal("-1"), Decimal("NaN"), 100, Decimal("1.001"),
                                        Decimal("1E+13")])
    def test_budget(self, budget: Any) -> None:
        t = in_state("claimed")
        assert refused(t, InvalidValue, lambda: t.plan(by(GIVER, at(2)), day(30), budget)
                       ).field == "budget_yuan"

    @pytest.mark.parametrize("kwargs,field", [
        (dict(value_yuan=Decimal("-0.01")), "value_yuan"),
        (dict(value_yuan=Decimal("Infinity")), "value_yuan"),
        (dict(value_yuan=12.5), "value_yuan"),
        (dict(note="  "), "note"), (dict(note="x" * 2001), "note"),
        (dict(evidence_sha256="0f" * 31), "evidence_sha256"),
        (dict(evidence_sha256="g" * 64), "evidence_sha256"),
        (dict(evidence_sha256=b"0" * 64), "evidence_sha256"),
    ])
    def test_delivery_values(self, kwargs: dict[str, Any], field: str) -> None:
        t = in_state("planned")
        assert refused(t, InvalidValue, lambda: t.report_delivery(
            by(GIVER, at(11)), at(10), **kwargs)).field == field

    def test_zero_value_is_allowed(self) -> None:
        t = in_state("planned")
        t.report_delivery(by(GIVER, at(11)), at(10), Decimal("0.00"))
        assert t.value_yuan == 0

    @pytest.mark.parametrize("level,comment,field", [
        ("happy", None, "level"), ("不了解", None, "level"), (None, None, "level"),
        ("satisfied", "  ", "comment"), ("satisfied", "x" * 2001, "comment"),
    ])
    def test_rating_values(self, level: Any, comment: Any, field: str) -> None:
        t = in_state("confirmed")
        assert refused(t, InvalidValue, lambda: t.rate_satisfaction(
            by(RECEIVER, at(13)), level, comment)).field == field


# -- replay ----------------------------------------------------------------------------------

def test_replaying_a_whole_life_gives_the_same_task() -> None:
    t = raise_need()
    history: list[Any] = list(t.collect_events())
    t.pool(system(at(30)), day(30), 30)
    t.claim(by(STRANGER, at(31)), STRANGER, False)
    t.withdraw_claim(by(STRANGER, at(32)), "人手不足")
    t.claim(by(GIVER, at(33)), GIVER, True)
    t.plan(by(GIVER, at(34)), day(50), Decimal("9000"))
    t.report_delivery(by(GIVER, at(40)), at(39, hours=20), Decimal("8800"), evidence_sha256=SHA)
    t.reject_delivery(clerk_for(RECEIVER, at(41)), "验收不合格")
    t.report_delivery(by(GIVER, at(45)), at(45))
    t.flag_confirmation_overdue(system(at(60)), day(60), 15)
    t.confirm_delivery(by(RECEIVER, at(61)))
    t.rate_satisfaction(by(RECEIVER, at(62)), "basically_satisfied", "稍有拖延")
    t.close(by(RECEIVER, at(63)))
    history += t.collect_events()
    assert event_names(history) == [
        "NeedRaised", "NeedPooled", "TaskClaimed", "ClaimWithdrawn", "TaskClaimed",
        "TaskPlanned", "DeliveryReported", "DeliveryRejected", "DeliveryReported",
        "ConfirmationOverdue", "DeliveryConfirmed", "SatisfactionRated", "TaskClosed",
    ]
    rebuilt = replay(history)
    assert rebuilt == t
    assert rebuilt.state == "closed" and rebuilt.claimer_id == GIVER
    assert rebuilt.confirmation_overdue and rebuilt.deliveries == 2 and rebuilt.rejections == 1
    assert replay(history[:4]).state == "pooled"
    assert replay(history[:10]).flagged


def test_time_zones_compare_as_instants() -> None:
    t = in_state("planned")
    # delivered 18:00 in Beijing = 10:00 UTC, reported at 11:00 UTC the same day
    t.report_delivery(by(GIVER, at(10, hours=10)), datetime(2026, 3, 12, 18, 0, tzinfo=CST))
    refused(t, InvalidValue, lambda: t.confirm_delivery(
        by(RECEIVER, datetime(2026, 3, 12, 9, 59, tzinfo=timezone.utc))))
    t.confirm_delivery(by(RECEIVER, datetime(2026, 3, 12, 10, 0, tzinfo=timezone.utc)
                          + timedelta(hours=1)))
    assert t.state == "confirmed"


@pytest.mark.parametrize("snapshot", [False, True])
@pytest.mark.parametrize("state", STATES)
def test_through_an_event_store_and_back(state: str, snapshot: bool) -> None:
    t = in_state(state, STRANGER)
    if state == "delivered":
        t.flag_confirmation_overdue(system(at(30)), day(30), 15)
    back = through_the_store(t, snapshot)
    assert back == t and back.state == state
