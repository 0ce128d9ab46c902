"""Follow-up cases (督办) opened by hand: who may open, answer and close them."""
from __future__ import annotations

import pytest

from domain.errors import InvalidValue, NotPermitted, WrongState
from domain.followup import FollowUpCase
from workflows.errors import Forbidden


def test_supervisor_opens_responsible_answers_supervisor_closes(engine, cast):
    pairing_id = cast.pairing_in_force()
    case = engine.open_followup(cast.supervisor, "pairing", pairing_id, cast.village, "台账记录不全，请补充")
    assert case.state == "open"
    with pytest.raises(Forbidden):  # the case is the village's: the agency does not even see it
        engine.respond_followup(cast.agency, case.id, "不是我们的事")
    with pytest.raises(NotPermitted):  # a township clerk may answer only for the responsible village
        engine.respond_followup(cast.supervisor, case.id, "代为答复", on_behalf_of=cast.village2,
                                reason="代录")
    answered = engine.respond_followup(cast.villager, case.id, "已补充台账")
    assert answered.state == "responded"
    with pytest.raises(Forbidden):
        engine.close_followup(cast.villager, case.id, "resolved", "自己关闭")
    with pytest.raises(InvalidValue):
        engine.close_followup(cast.supervisor, case.id, "forgotten", "不存在的结论")
    closed = engine.close_followup(cast.supervisor, case.id, "resolved", "台账已补齐")
    assert closed.state == "closed"
    assert engine.load(FollowUpCase, case.id).resolution == "resolved"
    with pytest.raises(WrongState):
        engine.respond_followup(cast.villager, case.id, "再补充一点")


def test_cases_stay_in_their_region_and_need_a_reason(engine, cast):
    pairing_id = cast.pairing_in_force()
    with pytest.raises(Forbidden):
        engine.open_followup(cast.outsider_supervisor, "pairing", pairing_id, cast.village, "看看")
    with pytest.raises(Forbidden):
        engine.open_followup(cast.agency, "pairing", pairing_id, cast.village, "看看")
    with pytest.raises(InvalidValue):
        engine.open_followup(cast.supervisor, "pairing", pairing_id, cast.village, "  ")
    case = engine.open_followup(cast.supervisor, "pairing", pairing_id, cast.village, "请说明")
    with pytest.raises(InvalidValue):
        engine.close_followup(cast.supervisor, case.id, "dismissed", "")
    with pytest.raises(Forbidden):
        engine.read(cast.agency2, FollowUpCase, case.id)
    assert engine.read(cast.villager, FollowUpCase, case.id).note == "请说明"
