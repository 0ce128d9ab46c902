"""Two parties, two people through the engine and over HTTP (issue #16 F1).

The attack: the county admin (who may enter data for any organisation in its region) enters
one side of a fact on behalf of the agency and the other side on behalf of the village.  Each
second side is refused (409, rule ``two-parties-two-people``) and nothing is written; another
person (the township clerk) may enter it.  A proxy without a reason gets 422.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.errors import InvalidValue, NotPermitted
from tests.api_support import JsonClient, rebind

V = "/api/v1"
WHY = "村支书外出培训，由县委组织部代录"
CLERK_WHY = "村支书外出培训，由乡镇代录"
NOW = "2025-03-01T09:00:00+08:00"  # the worlds' clock stands at API_START


def refused_as_two_people(error: pytest.ExceptionInfo) -> bool:
    return isinstance(error.value, NotPermitted) and error.value.rule == "two-parties-two-people"


# -- through the engine ---------------------------------------------------------------------

def test_engine_activity_recorded_for_one_side_is_never_cosigned_by_the_same_proxy(engine, cast):
    p = cast.pairing_in_force()
    recorded = engine.record_activity(cast.admin, p, "visit", "走访慰问", engine.clock.now(),
                                      on_behalf_of=cast.giver, reason=WHY)
    activity = recorded.details["activity_id"]
    for act in (engine.cosign_activity, engine.contest_activity):
        with pytest.raises(NotPermitted) as refused:
            act(cast.admin, p, activity, on_behalf_of=cast.village, reason=WHY)
        assert refused_as_two_people(refused)
    assert engine.cosign_activity(cast.supervisor, p, activity, on_behalf_of=cast.village,
                                  reason=CLERK_WHY).version == recorded.version + 1


def test_engine_the_proposer_never_accepts_and_one_proxy_never_signs_twice(engine, cast):
    p = engine.propose_pairing(cast.admin, cast.giver, cast.village, date(2025, 1, 1),
                               date(2027, 12, 31)).id
    with pytest.raises(NotPermitted) as refused:
        engine.accept_pairing(cast.admin, p, on_behalf_of=cast.village, reason=WHY)
    assert refused_as_two_people(refused)
    engine.accept_pairing(cast.supervisor, p, on_behalf_of=cast.village, reason=CLERK_WHY)
    engine.sign_agreement(cast.admin, p, engine.today(), on_behalf_of=cast.giver, reason=WHY)
    with pytest.raises(NotPermitted) as refused:
        engine.sign_agreement(cast.admin, p, engine.today(), on_behalf_of=cast.village, reason=WHY)
    assert refused_as_two_people(refused)
    assert engine.sign_agreement(cast.supervisor, p, engine.today(), on_behalf_of=cast.village,
                                 reason=CLERK_WHY).state == "in_force"


def test_engine_a_commitment_made_by_a_proxy_is_never_confirmed_by_it(engine, cast):
    p = cast.pairing_in_force()
    c = engine.make_commitment(cast.admin, p, "giver", "funds", "资助村道硬化 5 万元",
                               date(2025, 12, 31), amount_yuan=Decimal("50000"),
                               on_behalf_of=cast.giver, reason=WHY).id
    engine.publicise_commitment(cast.agency, c, "村务公开栏", engine.today())
    engine.claim_fulfilment(cast.agency, c, note="已拨付")
    for act in (engine.confirm_fulfilment, engine.dispute_fulfilment):  # the reason serves both
        with pytest.raises(NotPermitted) as refused:
            act(cast.admin, c, on_behalf_of=cast.village, reason=WHY)
        assert refused_as_two_people(refused)
    assert engine.confirm_fulfilment(cast.supervisor, c, on_behalf_of=cast.village,
                                     reason=CLERK_WHY).state == "fulfilled"


def test_engine_a_proxy_of_one_side_of_a_pairing_never_enters_the_other_in_its_commitments(engine, cast):
    p = cast.pairing_in_force()
    recorded = engine.record_activity(cast.admin, p, "visit", "走访慰问", engine.clock.now(),
                                      on_behalf_of=cast.giver, reason=WHY)
    assert recorded.state == "in_force"
    c = engine.make_commitment(cast.villager, p, "receiver", "org_life", "每季度开展联合主题党日",
                               date(2025, 12, 31), quantity=Decimal("4"), unit="次").id
    with pytest.raises(NotPermitted) as refused:  # the admin entered for the agency on this pairing
        engine.publicise_commitment(cast.admin, c, "村务公开栏", engine.today(),
                                    on_behalf_of=cast.village, reason=WHY)
    assert refused_as_two_people(refused)


def test_engine_a_need_is_never_taken_to_a_confirmed_delivery_by_one_account(engine, cast):
    cast.pairing_in_force()
    t = engine.raise_need(cast.admin, cast.village, "infrastructure", "修缮村文化礼堂屋顶",
                          on_behalf_of=cast.village, reason=WHY).id
    with pytest.raises(NotPermitted) as refused:
        engine.claim_task(cast.admin, t, cast.giver, on_behalf_of=cast.giver, reason=WHY)
    assert refused_as_two_people(refused)
    engine.claim_task(cast.agency, t, cast.giver)
    engine.plan_task(cast.agency, t, date(2025, 6, 30))
    with pytest.raises(NotPermitted):
        engine.report_delivery(cast.admin, t, engine.clock.now(), on_behalf_of=cast.giver, reason=WHY)
    engine.report_delivery(cast.agency, t, engine.clock.now())
    assert engine.confirm_delivery(cast.admin, t, on_behalf_of=cast.village,
                                   reason=WHY).state == "confirmed"


def test_engine_a_delivery_entered_by_a_proxy_is_never_confirmed_by_it(engine, cast):
    cast.pairing_in_force()
    t = engine.raise_need(cast.villager, cast.village, "skills_training", "电商培训").id
    engine.claim_task(cast.agency, t, cast.giver)
    engine.plan_task(cast.agency, t, date(2025, 6, 30))
    engine.report_delivery(cast.admin, t, engine.clock.now(), on_behalf_of=cast.giver, reason=WHY)
    for act in (engine.confirm_delivery, engine.reject_delivery):
        with pytest.raises(NotPermitted) as refused:
            act(cast.admin, t, on_behalf_of=cast.village, reason=WHY)
        assert refused_as_two_people(refused)
    assert engine.confirm_delivery(cast.villager, t).state == "confirmed"


def test_engine_proxy_entry_without_a_reason_is_refused_and_writes_nothing(engine, cast):
    p = engine.propose_pairing(cast.agency, cast.giver, cast.village, date(2025, 1, 1),
                               date(2027, 12, 31)).id
    before = engine.recorder.max_notification_id()
    for reason in (None, "", "   "):
        with pytest.raises(InvalidValue) as refused:
            engine.accept_pairing(cast.supervisor, p, on_behalf_of=cast.village, reason=reason)
        assert refused.value.field == "reason"
    assert engine.recorder.max_notification_id() == before


# -- over HTTP --------------------------------------------------------------------------------

@pytest.fixture
def world(templates, app, tmp_path):
    opened = []

    def open_world(setup: str):
        engine, settings, cast, ids = templates.open(setup, tmp_path / f"var{len(opened)}")
        opened.append(engine)
        rebind(app, engine, settings)
        return engine, cast, ids, JsonClient(app.test_client())

    yield open_world
    for engine in opened:
        engine.close()


def proxy(cast, org: str, why: str = WHY, **body):
    return {"on_behalf_of": str(cast.orgs[org]), "reason": why, **body}


def assert_refused_two_people(answer, engine, before: int) -> None:
    problem = answer.expect(409)
    assert answer.content_type == "application/problem+json"
    assert problem["details"]["rule"] == "two-parties-two-people"
    assert engine.recorder.max_notification_id() == before


def test_http_one_admin_cannot_record_and_cosign_an_activity(world):
    engine, cast, ids, http = world("in_force")
    p, admin = ids["pairing"], cast.tokens["admin"]
    made = http.post(f"{V}/pairings/{p}/activities", admin,
                     proxy(cast, "G1", kind="visit", title="走访慰问", occurred_at=NOW)).expect(201)
    path = f"{V}/pairings/{p}/activities/{made['activity_id']}"
    before = engine.recorder.max_notification_id()
    assert_refused_two_people(http.post(f"{path}/cosign", admin, proxy(cast, "V1")), engine, before)
    assert_refused_two_people(http.post(f"{path}/contest", admin, proxy(cast, "V1", reason="未开展")),
                              engine, before)
    http.post(f"{path}/cosign", cast.tokens["supervisor"], proxy(cast, "V1", CLERK_WHY)).expect(200)
    history = http.get(f"{V}/audit/pairings/{p}/history", cast.tokens["evaluator"]).expect(200)
    entries = [(i["type"], i["proxy_entry"]) for i in history["items"][-2:]]
    assert entries == [("ActivityRecorded", {"label": "代录", "reason": WHY}),
                       ("ActivityCoSigned", {"label": "代录", "reason": CLERK_WHY})]


def test_http_the_proposer_never_accepts_and_one_proxy_never_signs_both_sides(world):
    engine, cast, ids, http = world("none")
    admin = cast.tokens["admin"]
    p = http.post(f"{V}/pairings", admin, {
        "giver_id": str(cast.orgs["G1"]), "receiver_id": str(cast.orgs["V1"]),
        "term_start": "2025-03-01", "term_end": "2027-02-28"}).expect(201)["id"]
    before = engine.recorder.max_notification_id()
    assert_refused_two_people(http.post(f"{V}/pairings/{p}/accept", admin, proxy(cast, "V1")),
                              engine, before)
    http.post(f"{V}/pairings/{p}/accept", cast.tokens["village"], {}).expect(200)
    http.post(f"{V}/pairings/{p}/sign-agreement", admin,
              proxy(cast, "G1", signed_on="2025-03-01")).expect(200)
    before = engine.recorder.max_notification_id()
    assert_refused_two_people(http.post(f"{V}/pairings/{p}/sign-agreement", admin,
                                        proxy(cast, "V1", signed_on="2025-03-01")), engine, before)
    signed = http.post(f"{V}/pairings/{p}/sign-agreement", cast.tokens["village"],
                       {"signed_on": "2025-03-01"}).expect(200)
    assert signed["state"] == "in_force"


def test_http_one_admin_cannot_take_a_commitment_from_make_to_confirm(world):
    engine, cast, ids, http = world("in_force")
    admin = cast.tokens["admin"]
    c = http.post(f"{V}/commitments", admin, proxy(
        cast, "G1", pairing_id=ids["pairing"], made_by="giver", category="funds",
        content="资助村道硬化 5 万元", due_on="2025-12-31", amount_yuan="50000.00")).expect(201)["id"]
    http.post(f"{V}/commitments/{c}/publicise", admin,
              proxy(cast, "G1", channel="村务公开栏", publicised_on="2025-03-01")).expect(200)
    http.post(f"{V}/commitments/{c}/claim-fulfilment", admin, proxy(cast, "G1", note="已拨付")).expect(200)
    before = engine.recorder.max_notification_id()
    assert_refused_two_people(http.post(f"{V}/commitments/{c}/confirm", admin, proxy(cast, "V1")),
                              engine, before)
    assert_refused_two_people(http.post(f"{V}/commitments/{c}/dispute", admin,
                                        proxy(cast, "V1", reason="不符")), engine, before)
    confirmed = http.post(f"{V}/commitments/{c}/confirm", cast.tokens["village"], {}).expect(200)
    assert confirmed["state"] == "fulfilled"


def test_http_one_admin_cannot_take_a_need_to_a_confirmed_delivery(world):
    engine, cast, ids, http = world("task:planned")
    admin, t = cast.tokens["admin"], ids["task"]
    http.post(f"{V}/tasks/{t}/deliver", admin,
              proxy(cast, "G1", delivered_at=NOW, value_yuan="78000.00")).expect(200)
    before = engine.recorder.max_notification_id()
    assert_refused_two_people(http.post(f"{V}/tasks/{t}/confirm", admin, proxy(cast, "V1")),
                              engine, before)
    assert_refused_two_people(http.post(f"{V}/tasks/{t}/reject", admin,
                                        proxy(cast, "V1", reason="需返工")), engine, before)
    http.post(f"{V}/tasks/{t}/confirm", cast.tokens["supervisor"], proxy(cast, "V1", CLERK_WHY)).expect(200)


def test_http_a_need_raised_by_a_proxy_is_never_claimed_by_it(world):
    engine, cast, ids, http = world("in_force")
    admin = cast.tokens["admin"]
    t = http.post(f"{V}/tasks", admin, proxy(cast, "V1", receiver_id=str(cast.orgs["V1"]),
                                             category="infrastructure", title="村道路灯")).expect(201)["id"]
    before = engine.recorder.max_notification_id()
    assert_refused_two_people(http.post(f"{V}/tasks/{t}/claim", admin,
                                        proxy(cast, "G1", giver_id=str(cast.orgs["G1"]))), engine, before)


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "  "}])
def test_http_proxy_entry_without_a_reason_is_422_and_writes_nothing(world, body):
    engine, cast, ids, http = world("proposed")
    before = engine.recorder.max_notification_id()
    answer = http.post(f"{V}/pairings/{ids['pairing']}/accept", cast.tokens["supervisor"],
                       {"on_behalf_of": str(cast.orgs["V1"]), **body})
    assert answer.expect(422)["errors"]["reason"]
    assert engine.recorder.max_notification_id() == before
