"""End to end through a real ``cobuild serve`` process over loopback.

One pairing's year (2025), entered as it happened: the business times are in the past, as
when a township clerk keeps the ledger up to date.  The server runs with its embedded
workers on the real clock, so the workflow may act on the same records meanwhile (mark the
commitment overdue, pool the need, flag a late confirmation): the client does what a real
client does with a lost race, and retries with the same Idempotency-Key.
"""
from __future__ import annotations

import secrets
import time
import uuid
from datetime import datetime
from typing import Any, Callable

import pytest

from workflows.audit.verifier import VerifierKey, verify_bundle
from workflows.store.clock import LOCAL_TZ, FileClock
from tests.api_support import JsonClient, ServerProcess

V = "/api/v1"


class Client:
    def __init__(self, http: JsonClient, token: str) -> None:
        self.http = http
        self.token = token

    def post(self, path: str, body: dict, status: int = 200) -> dict:
        key = uuid.uuid4().hex
        for _ in range(10):
            answer = self.http.post(V + path, self.token, body, headers={"Idempotency-Key": key})
            if answer.status == 409 and answer.json["code"] == "conflict":
                continue  # the embedded workflow saved the same record first
            return answer.expect(status)
        raise AssertionError(f"{path}: still conflicting after 10 tries")

    def get(self, path: str) -> dict:
        return self.http.get(V + path, self.token).expect(200)


@pytest.fixture
def server(tmp_path):
    admin_token = secrets.token_urlsafe(24)
    running = ServerProcess(tmp_path / "var", admin_token)
    yield running, admin_token
    output = running.stop()
    assert "Traceback" not in output, output


def test_a_year_of_one_pairing_from_proposal_to_confirmed_deliveries(server):
    running, admin_token = server
    assert "first admin was created" in running.banner[1]
    assert "scheduler, relay and projections" in running.banner[2]
    http = JsonClient(base_url=running.base_url)
    admin = Client(http, admin_token)

    # The organisation department registers both sides and their users.
    giver = admin.post("/organisations", {"code": "SCJ", "name": "遂昌县财政局机关党委",
                                          "kind": "agency", "region_code": "331123000000"}, 201)
    village = admin.post("/organisations", {"code": "SLC", "name": "大柘镇石练村党支部",
                                            "kind": "village", "region_code": "331123101201"}, 201)
    admin.post(f"/organisations/{village['id']}/income",
               {"year": 2024, "amount_yuan": "21000.00"})
    agency = Client(http, admin.post("/users", {"name": "王书记", "role": "agency",
                                                "organisation_id": giver["id"]}, 201)["token"])
    villager = Client(http, admin.post("/users", {"name": "李支书", "role": "village",
                                                  "organisation_id": village["id"]}, 201)["token"])
    evaluator = Client(http, admin.post("/users", {"name": "县考核组", "role": "evaluator",
                                                   "region_code": "331123"}, 201)["token"])
    assert villager.get("/users/me")["organisation_id"] == village["id"]

    # January: proposal, acceptance, the agreement signed by both sides.
    pairing = agency.post("/pairings", {
        "giver_id": giver["id"], "receiver_id": village["id"], "term_start": "2025-01-01",
        "term_end": "2027-12-31", "areas": ["organisation", "industry", "talent"],
        "occurred_at": "2025-01-06T10:00:00+08:00"}, 201)
    p = pairing["id"]
    assert villager.post(f"/pairings/{p}/accept",
                         {"occurred_at": "2025-01-10T15:00:00+08:00"})["state"] == "accepted"
    agency.post(f"/pairings/{p}/sign-agreement", {"signed_on": "2025-01-15"})
    assert villager.post(f"/pairings/{p}/sign-agreement",
                         {"signed_on": "2025-01-15"})["state"] == "in_force"

    # A public commitment: made, publicised, progressed, claimed, confirmed by the village.
    commitment = agency.post("/commitments", {
        "pairing_id": p, "made_by": "giver", "category": "funds",
        "content": "资助石练村村道硬化工程 5 万元", "due_on": "2025-10-31",
        "amount_yuan": "50000.00", "occurred_at": "2025-02-01T09:00:00+08:00"}, 201)
    c = commitment["id"]
    agency.post(f"/commitments/{c}/publicise", {"channel": "村务公开栏", "publicised_on": "2025-02-05"})
    agency.post(f"/commitments/{c}/progress", {"note": "首批 2 万元已拨付", "amount_yuan": "20000.00",
                                               "occurred_at": "2025-06-10T09:00:00+08:00"})
    agency.post(f"/commitments/{c}/claim-fulfilment", {"note": "5 万元已全部拨付",
                                                       "occurred_at": "2025-10-20T09:00:00+08:00"})
    assert villager.post(f"/commitments/{c}/confirm",
                         {"occurred_at": "2025-10-25T09:00:00+08:00"})["state"] == "fulfilled"

    # A need of the village, claimed, planned, delivered and confirmed, then rated and closed.
    task = villager.post("/tasks", {"receiver_id": village["id"], "category": "culture_sports",
                                    "title": "修缮村文化礼堂屋顶", "wanted_by": "2025-06-30",
                                    "occurred_at": "2025-03-01T09:00:00+08:00"}, 201)
    t = task["id"]
    agency.post(f"/tasks/{t}/claim", {"giver_id": giver["id"],
                                      "occurred_at": "2025-03-05T09:00:00+08:00"})
    agency.post(f"/tasks/{t}/plan", {"due_on": "2025-06-30", "budget_yuan": "80000.00",
                                     "occurred_at": "2025-03-10T09:00:00+08:00"})
    agency.post(f"/tasks/{t}/deliver", {"delivered_at": "2025-06-20T17:00:00+08:00",
                                        "value_yuan": "78000.00", "note": "屋顶已修缮"})
    assert villager.post(f"/tasks/{t}/confirm", {})["state"] == "confirmed"
    villager.post(f"/tasks/{t}/rate", {"level": "satisfied", "comment": "群众满意"})
    assert villager.post(f"/tasks/{t}/close", {})["state"] == "closed"

    # Activities every quarter, each co-signed by the other side.
    for month, kind, title in ((3, "joint_org_life", "联合主题党日"), (6, "training", "电商技能培训"),
                               (9, "practical_matter", "为民办实事：安装路灯"),
                               (12, "meeting", "年度共建总结会")):
        made = agency.post(f"/pairings/{p}/activities", {
            "kind": kind, "title": title, "occurred_at": f"2025-{month:02d}-18T14:00:00+08:00",
            "participants": {"giver": 6, "receiver": 15, "masses": 40}}, 201)
        villager.post(f"/pairings/{p}/activities/{made['activity_id']}/cosign",
                      {"occurred_at": f"2025-{month:02d}-19T10:00:00+08:00"})

    # The year as the parties and the evaluator read it.
    read = villager.get(f"/pairings/{p}")
    assert read["state"] == "in_force"
    assert [a["status"] for a in read["activities"]] == ["cosigned"] * 4
    assert evaluator.get(f"/commitments/{c}")["state"] == "fulfilled"
    assert evaluator.get(f"/tasks/{t}")["state"] == "closed"
    history = evaluator.get(f"/audit/tasks/{t}/history")["items"]
    types = [item["type"] for item in history]
    assert types[0] == "NeedRaised"
    assert types[-3:] == ["DeliveryConfirmed", "SatisfactionRated", "TaskClosed"]
    delivered = next(item for item in history if item["type"] == "DeliveryReported")
    assert delivered["actor"]["organisation_id"] == giver["id"]
    confirmed = next(item for item in history if item["type"] == "DeliveryConfirmed")
    assert confirmed["actor"]["organisation_id"] == village["id"]
    assert confirmed["position"] > delivered["position"]
    pairing_history = evaluator.get(f"/audit/pairings/{p}/history?limit=3")
    assert len(pairing_history["items"]) == 3 and pairing_history["next_cursor"] == "3"

    # A second village paired the same way, then left alone after one activity in March.
    quiet_village = admin.post("/organisations", {"code": "HYC", "name": "大柘镇黄岩村党支部",
                                                  "kind": "village",
                                                  "region_code": "331123101202"}, 201)
    villager2 = Client(http, admin.post("/users", {"name": "陈支书", "role": "village",
                                                   "organisation_id": quiet_village["id"]},
                                        201)["token"])
    quiet = agency.post("/pairings", {
        "giver_id": giver["id"], "receiver_id": quiet_village["id"], "term_start": "2025-02-01",
        "term_end": "2027-12-31", "occurred_at": "2025-02-01T10:00:00+08:00"}, 201)["id"]
    villager2.post(f"/pairings/{quiet}/accept", {"occurred_at": "2025-02-03T10:00:00+08:00"})
    agency.post(f"/pairings/{quiet}/sign-agreement", {"signed_on": "2025-02-05"})
    villager2.post(f"/pairings/{quiet}/sign-agreement", {"signed_on": "2025-02-05"})
    once = agency.post(f"/pairings/{quiet}/activities", {
        "kind": "visit", "title": "走访慰问", "occurred_at": "2025-03-10T14:00:00+08:00"}, 201)
    villager2.post(f"/pairings/{quiet}/activities/{once['activity_id']}/cosign",
                   {"occurred_at": "2025-03-11T10:00:00+08:00"})

    # The status board after the year, read straight after the writes (the report catches
    # the projections up to the log first): the worked pairing is active, the other is not.
    year_end = {i["pairing_id"]: i for i in
                evaluator.get("/reports/pairings?as_of=2025-12-31")["items"]}
    assert set(year_end) == {p, quiet}
    worked = year_end[p]
    assert worked["status"] == "active"
    assert worked["last_activity_on"] == "2025-12-18" and worked["cosigned_activities"] == 4
    assert worked["commitments"] == {"fulfilled": 1}
    # A delivery report is dated when it is entered (today), and its confirmation cannot be
    # dated before it: as of the year end the village had not yet confirmed, and R9 says so
    # without changing the status.  As of today the task is closed.
    assert worked["tasks"] == {"delivered": 1}
    assert [h["rule"] for h in worked["rule_hits"]] == ["R9"]
    today = {i["pairing_id"]: i for i in evaluator.get("/reports/pairings")["items"]}
    assert today[p]["tasks"] == {"closed": 1}
    assert year_end[quiet]["status"] == "paired_but_inactive"

    # 92 days after the only co-signed activity: R2 (联而不动) names the days it measured.
    june = evaluator.get("/reports/inactive?as_of=2025-06-10")["items"]
    assert [i["pairing_id"] for i in june] == [quiet]
    r2 = [h for h in june[0]["rule_hits"] if h["rule"] == "R2"]
    assert r2 == [{"rule": "R2", "rule_label": "联而不动", "severity": "warning",
                   "severity_label": "预警", "measured": {
        "days_without_activity": 92, "threshold_days": 90, "red_days": 180,
        "last_active_on": "2025-03-10", "last_activity_on": "2025-03-10"}}]
    assert evaluator.get("/reports/inactive?as_of=2025-06-07")["items"] == []  # 89 days

    # The village sees its own pairing only; the ledger exports with Chinese headers.
    assert [i["pairing_id"] for i in villager.get("/reports/pairings?as_of=2025-12-31")["items"]] == [p]
    ledger = http.get(V + "/reports/commitments?format=csv&as_of=2025-12-31", evaluator.token)
    assert ledger.status == 200 and ledger.content.decode("utf-8").startswith("\ufeff承诺方")

    # The task's evidence bundle from the running server verifies offline.
    key = http.get(V + "/audit/vkey", evaluator.token).content.decode()
    bundle = evaluator.get(f"/audit/tasks/{t}/bundle")
    report = verify_bundle(bundle, VerifierKey.parse(key))
    assert report.ok, report.problems


# -- a year with the workflow's follow-up and the evaluation round, on a clock set by hand -----

def eventually(read: Callable[[], Any], what: str, tries: int = 600) -> Any:
    """The value of ``read`` once it is truthy: the embedded workers act in their own time."""
    for _ in range(tries):
        value = read()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


@pytest.fixture
def rehearsal(tmp_path):
    """``cobuild serve`` whose clock is set by the test (COBUILD_CLOCK_FILE), as a training
    server's is by its trainer."""
    clock_file = tmp_path / "clock"
    FileClock.write(clock_file, datetime(2025, 1, 5, 9, 0, tzinfo=LOCAL_TZ))
    admin_token = secrets.token_urlsafe(24)
    running = ServerProcess(tmp_path / "var", admin_token, extra_env={"COBUILD_CLOCK_FILE": str(clock_file)})

    def set_clock(day: str, hour: int = 9) -> None:
        FileClock.write(clock_file, datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00"))

    yield JsonClient(base_url=running.base_url), admin_token, set_clock
    output = running.stop()
    assert "Traceback" not in output, output


def find(client: Client, name: str, **filters: str) -> dict:
    """The one organisation whose name contains ``name``, found as a person finds it."""
    query = "&".join(f"{k}={v}" for k, v in {"q": name, **filters}.items())
    (found,) = client.get(f"/organisations?{query}")["items"]
    return found


def test_a_year_with_a_follow_up_case_and_the_evaluation_round_all_over_http(rehearsal):
    http, admin_token, set_clock = rehearsal
    admin = Client(http, admin_token)
    # A rehearsal runs over a year: tokens last as long (a rule of the rule set).
    assert admin.get("/rules")["values"]["token_days"] == 90
    admin.post("/rules", {"token_days": 400}, 201)

    # The organisation department registers the parties, then finds them by name, as
    # everyone does from here on: nobody types an id.
    for code, name, kind, region in (
            ("SCJ", "遂昌县财政局机关党委", "agency", "331123000000"),
            ("SLC", "大柘镇石练村党支部", "village", "331123101201"),
            ("HYC", "大柘镇黄岩村党支部", "village", "331123101202")):
        admin.post("/organisations", {"code": code, "name": name, "kind": kind,
                                      "region_code": region}, 201)
    giver = find(admin, "财政局")
    village = find(admin, "石练", kind="village")
    assert find(admin, "slc")["name"] == "大柘镇石练村党支部"  # the code, in any case

    def user(name: str, role: str, **where: str) -> Client:
        return Client(http, admin.post("/users", {"name": name, "role": role, **where}, 201)["token"])

    clerk = user("王书记", "agency", organisation_id=giver["id"])
    secretary = user("李支书", "village", organisation_id=village["id"])
    supervisor = user("县委组织部督导组", "supervisor", region_code="331123")
    evaluator = user("县考核组", "evaluator", region_code="331123")

    # January: the agency finds the village by name and proposes; both sides sign.
    set_clock("2025-01-06")
    target = find(clerk, "石练")
    assert "weak" not in target  # income details are for the regional roles
    p = clerk.post("/pairings", {"giver_id": giver["id"], "receiver_id": target["id"],
                                 "term_start": "2025-01-01", "term_end": "2027-12-31"}, 201)["id"]
    set_clock("2025-01-10")
    secretary.post(f"/pairings/{p}/accept", {})
    set_clock("2025-01-15")
    clerk.post(f"/pairings/{p}/sign-agreement", {"signed_on": "2025-01-15"})
    assert secretary.post(f"/pairings/{p}/sign-agreement",
                          {"signed_on": "2025-01-15"})["state"] == "in_force"

    # March: one joint activity, co-signed; the village raises a need, which its partner
    # sees in its inbox and task report and claims.
    set_clock("2025-03-10")
    made = clerk.post(f"/pairings/{p}/activities", {
        "kind": "joint_org_life", "title": "联合主题党日", "occurred_at": "2025-03-10T09:00:00+08:00",
        "participants": {"giver": 6, "receiver": 15}}, 201)
    secretary.post(f"/pairings/{p}/activities/{made['activity_id']}/cosign", {})
    need = secretary.post("/tasks", {"receiver_id": village["id"], "category": "education",
                                     "title": "留守儿童暑期课堂"}, 201)["id"]
    inbox = clerk.get("/reports/inbox")["items"]
    assert [(i["kind"], i["task_id"]) for i in inbox if i["kind"] == "claim_need"] == [
        ("claim_need", need)]
    assert need in [t["id"] for t in clerk.get("/reports/tasks")["items"]]
    assert clerk.get(f"/tasks/{need}")["state"] == "open"
    clerk.post(f"/tasks/{need}/claim", {"giver_id": giver["id"]})

    # June: three months without a co-signed activity.  The workflow flags 联而不动 and
    # opens a case for the agency, which finds it in its inbox.
    set_clock("2025-06-15")
    case_item = eventually(lambda: next((i for i in clerk.get("/reports/inbox")["items"]
                                         if i["kind"] == "answer_followup"), None),
                           "the R2 case in the agency's inbox")
    assert (case_item["rule"], case_item["title"]) == ("R2", "联而不动")
    case_id = case_item["followup_id"]
    case = clerk.get(f"/followups/{case_id}")
    assert (case["state"], case["subject_id"], case["responsible_id"]) == ("open", p, giver["id"])
    assert case["measured"]["days_without_activity"] >= 90
    answer = "6月已制定下半年共建计划，7月开展电商技能培训"
    assert clerk.post(f"/followups/{case_id}/respond", {"text": answer})["state"] == "responded"
    assert not [i for i in clerk.get("/reports/inbox")["items"] if i["kind"] == "answer_followup"]
    listed = {i["id"]: i for i in supervisor.get("/reports/followups")["items"]}
    assert (listed[case_id]["state"], listed[case_id]["response"]) == ("responded", answer)
    supervisor.post(f"/followups/{case_id}/close", {"resolution": "resolved",
                                                    "reason": "已约谈，整改计划可行"})
    assert supervisor.get(f"/followups/{case_id}")["resolution"] == "resolved"

    # The rest of the year: activities every few months, each co-signed by the village.
    for day, kind, title in (("2025-07-18", "training", "电商技能培训"),
                             ("2025-10-20", "practical_matter", "为民办实事：安装路灯"),
                             ("2025-12-18", "meeting", "年度共建总结会")):
        set_clock(day)
        made = clerk.post(f"/pairings/{p}/activities", {
            "kind": kind, "title": title, "occurred_at": f"{day}T09:00:00+08:00"}, 201)
        secretary.post(f"/pairings/{p}/activities/{made['activity_id']}/cosign", {})

    # January 2026: the county's round for 2025.  Each side rates the other, the supervisor
    # records the survey, the evaluator computes, the department publicises.
    set_clock("2026-01-05")
    round_id = admin.post("/evaluations", {"year": 2025, "region_code": "331123"}, 201)["id"]
    scores = {"ideology": 90, "mechanism": 85, "teamwork": 92, "results": 80, "response": 88}
    for side, given in ((clerk, scores), (secretary, {**scores, "results": 95})):
        # Each side finds the round to rate in its inbox.
        (to_rate,) = [i for i in side.get("/reports/inbox")["items"] if i["kind"] == "rate_pairing"]
        assert (to_rate["evaluation_id"], to_rate["pairing_id"], to_rate["year"]) == (round_id, p, 2025)
        side.post(f"/evaluations/{to_rate['evaluation_id']}/ratings",
                  {"pairing_id": to_rate["pairing_id"], "scores": given})
        assert not [i for i in side.get("/reports/inbox")["items"] if i["kind"] == "rate_pairing"]
    supervisor.post(f"/evaluations/{round_id}/satisfaction", {
        "pairing_id": p, "counts": {"satisfied": 42, "basically_satisfied": 6, "dissatisfied": 1,
                                    "unknown": 3}})
    computed = evaluator.post(f"/evaluations/{round_id}/compute", {})
    assert computed["state"] == "computed" and computed["pairings"] == 1
    publicity = admin.post(f"/evaluations/{round_id}/publicise", {})
    assert (publicity["from_on"], publicity["until"]) == ("2026-01-05", "2026-01-11")

    # The village objects during the publicity period; the evaluator rules on it.
    seen = secretary.get(f"/evaluations/{round_id}")
    assert seen["state"] == "publicised" and seen["ratings"][p].keys() == {"giver", "receiver"}
    objection = secretary.post(f"/evaluations/{round_id}/objections",
                               {"reason": "群众满意度样本偏少", "pairing_id": p}, 201)["objection_id"]
    evaluator.post(f"/evaluations/{round_id}/objections/{objection}/resolve",
                   {"resolution": "dismissed", "reason": "样本符合县里规定"})

    # After the publicity period the workflow records its end; the department finalises.
    set_clock("2026-01-12")
    eventually(lambda: evaluator.get(f"/evaluations/{round_id}")["state"] == "publicity_ended",
               "the end of the publicity period")
    assert admin.post(f"/evaluations/{round_id}/finalise", {})["state"] == "finalised"
    final = clerk.get(f"/evaluations/{round_id}")
    assert final["state_label"] == "已定档"
    assert final["grades"]["pairings"][p] == final["snapshot"]["pairings"][0]["grade"]
    assert [o["resolution"] for o in final["objections"]] == ["dismissed"]

    # Every fact with two sides was written by two people.
    history = evaluator.get(f"/audit/pairings/{p}/history?limit=100")["items"]
    by_type: dict[str, set[str]] = {}
    for item in history:
        by_type.setdefault(item["type"], set()).add(item["actor"]["user_id"])
    assert by_type["ActivityRecorded"].isdisjoint(by_type["ActivityCoSigned"])
