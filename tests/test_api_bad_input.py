"""Whatever a client sends, it gets a 4xx problem+json and the event log is unchanged."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from tests.api_support import JsonClient, rebind

V = "/api/v1"
NOW = "2025-03-01T08:30:00+08:00"
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Bad:
    name: str
    path: Callable[[dict[str, Any]], str]
    status: int
    code: str
    json: Any = None
    data: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    who: str = "agency"
    method: str = "POST"
    setup: str = "in_force"


def activities(w: dict[str, Any]) -> str:
    return f"{V}/pairings/{w['pairing']}/activities"


def pairings(w: dict[str, Any]) -> str:
    return f"{V}/pairings"


def income(w: dict[str, Any]) -> str:
    return f"{V}/organisations/{w['V1']}/income"


def organisations(w: dict[str, Any]) -> str:
    return f"{V}/organisations"


def proposal(w: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {"giver_id": w["G1"], "receiver_id": w["V2"], "term_start": "2025-03-01",
            "term_end": "2027-02-28"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def report(query: str) -> Callable[[dict[str, Any]], str]:
    return lambda w: f"{V}/reports/{query}"


def audit(query: str) -> Callable[[dict[str, Any]], str]:
    return lambda w: f"{V}/audit/{query}"


ACTIVITY = {"kind": "visit", "title": "走访", "occurred_at": NOW}
ORG = {"code": "V9", "name": "新村党支部", "kind": "village", "region_code": "331123101209"}

CASES = [
    # malformed
    Bad("malformed JSON", activities, 400, "malformed-json", data='{"kind": "visit",', headers=JSON),
    Bad("JSON nested too deep", activities, 400, "malformed-json", data="[" * 30000, headers=JSON),
    Bad("integer with 5000 digits", activities, 400, "malformed-json",
        data='{"participants": {"giver": ' + "9" * 5000 + "}}", headers=JSON),
    Bad("not UTF-8", activities, 400, "malformed-json", data=b'{"title": "\xff\xfe"}', headers=JSON),
    Bad("not JSON at all", activities, 415, "unsupported-media-type", data="kind=visit",
        headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Bad("a JSON array", activities, 422, "invalid-fields", json=[ACTIVITY]),
    Bad("JSON null", activities, 422, "invalid-fields", data="null", headers=JSON),
    Bad("empty body where fields are required", activities, 422, "invalid-fields"),
    # wrong types
    Bad("date as a number", pairings, 422, "invalid-fields",
        json=lambda w: proposal(w, term_start=20250301)),
    Bad("id that is not a UUID", pairings, 422, "invalid-fields",
        json=lambda w: proposal(w, giver_id="G1")),
    Bad("areas not a list", pairings, 422, "invalid-fields",
        json=lambda w: proposal(w, areas="industry")),
    Bad("count as a string", activities, 422, "invalid-fields",
        json={**ACTIVITY, "participants": {"giver": "8"}}),
    Bad("count as a float", activities, 422, "invalid-fields",
        json={**ACTIVITY, "participants": {"giver": 8.5}}),
    Bad("year as a string", income, 422, "invalid-fields", who="admin",
        json={"year": "2024", "amount_yuan": "1.00"}),
    Bad("time without an offset", activities, 422, "invalid-fields",
        json={**ACTIVITY, "occurred_at": "2025-03-01T08:30:00"}),
    Bad("boolean amount", income, 422, "invalid-fields", who="admin",
        json={"year": 2024, "amount_yuan": True}),
    # unknown and missing fields
    Bad("unknown field", activities, 422, "invalid-fields", json={**ACTIVITY, "photos": ["a.jpg"]}),
    Bad("unknown nested field", activities, 422, "invalid-fields",
        json={**ACTIVITY, "participants": {"cadres": 3}}),
    Bad("missing field", pairings, 422, "invalid-fields",
        json=lambda w: proposal(w, receiver_id=None)),
    Bad("blank reason", lambda w: f"{V}/pairings/{w['pairing']}/suspend", 422, "invalid-value",
        who="supervisor", json={"reason": "   "}),
    # sizes
    Bad("body over 64 KiB", activities, 413, "body-too-large",
        json={**ACTIVITY, "title": "长" * 70000}),
    Bad("title over 200 characters", activities, 422, "invalid-fields",
        json={**ACTIVITY, "title": "长" * 201}),
    Bad("huge participant count", activities, 422, "invalid-fields",
        json={**ACTIVITY, "participants": {"masses": 10**20}}),
    Bad("huge year", income, 422, "invalid-value", who="admin",
        json={"year": 10**12, "amount_yuan": "1.00"}),
    # unicode
    Bad("unpaired surrogate", activities, 422, "invalid-fields",
        data='{"kind": "visit", "title": "\\ud800", "occurred_at": "' + NOW + '"}', headers=JSON),
    Bad("NUL in a name", organisations, 422, "invalid-fields", who="admin",
        json={**ORG, "name": "新村\u0000党支部"}),
    Bad("line break in a one-line field", organisations, 422, "invalid-fields", who="admin",
        json={**ORG, "name": "新村\n党支部"}),
    Bad("full-width digits in a region code", organisations, 422, "invalid-fields", who="admin",
        json={**ORG, "region_code": "３３１１２３１０１２０９"}),
    Bad("unicode field name", activities, 422, "invalid-fields", json={**ACTIVITY, "标题": "走访"}),
    # far-future and impossible dates
    Bad("term end in year 9999", pairings, 422, "invalid-fields",
        json=lambda w: proposal(w, term_end="9999-12-31")),
    Bad("date that does not exist", pairings, 422, "invalid-fields",
        json=lambda w: proposal(w, term_end="2026-02-30")),
    Bad("five-digit year", activities, 422, "invalid-fields",
        json={**ACTIVITY, "occurred_at": "12025-03-01T08:30:00+08:00"}),
    Bad("activity next year", activities, 422, "invalid-value",
        json={**ACTIVITY, "occurred_at": "2026-03-01T08:30:00+08:00"}),
    Bad("time at the edge of the calendar", activities, 422, "invalid-fields",
        json={**ACTIVITY, "occurred_at": "9999-12-31T23:59:59-12:00"}),
    Bad("agreement signed in the future", lambda w: f"{V}/pairings/{w['pairing']}/sign-agreement",
        422, "invalid-value", setup="accepted", json={"signed_on": "2030-01-01"}),
    Bad("term ending before it starts", pairings, 422, "invalid-value",
        json=lambda w: proposal(w, term_start="2026-01-01", term_end="2025-12-31")),
    # amounts
    Bad("negative amount", income, 422, "invalid-fields", who="admin",
        json={"year": 2024, "amount_yuan": "-5.00"}),
    Bad("amount with three decimals", income, 422, "invalid-fields", who="admin",
        json={"year": 2024, "amount_yuan": "5.005"}),
    Bad("amount NaN", income, 422, "invalid-fields", who="admin",
        json={"year": 2024, "amount_yuan": "NaN"}),
    Bad("amount 1e400", income, 422, "invalid-fields", who="admin",
        json={"year": 2024, "amount_yuan": "1e400"}),
    Bad("amount as words", income, 422, "invalid-fields", who="admin",
        json={"year": 2024, "amount_yuan": "五万元"}),
    # unknown ids
    Bad("unknown pairing", lambda w: f"{V}/pairings/{uuid.UUID(int=7)}/accept", 404, "not-found",
        who="village", json={}),
    Bad("unknown organisation in a proposal", pairings, 404, "not-found",
        json=lambda w: proposal(w, receiver_id=str(uuid.UUID(int=7)))),
    Bad("unknown activity", lambda w: f"{V}/pairings/{w['pairing']}/activities/abc/cosign", 422,
        "invalid-value", who="village", json={}),
    Bad("path id that is not a UUID", lambda w: f"{V}/pairings/not-a-uuid/accept", 404,
        "not-found", who="village", json={}),
    Bad("read an unknown pairing", lambda w: f"{V}/pairings/{uuid.UUID(int=7)}", 404, "not-found",
        method="GET"),
    Bad("history of an unknown kind", lambda w: f"{V}/audit/spaceships/{w['pairing']}/history",
        404, "not-found", method="GET"),
    Bad("an id of another kind", lambda w: f"{V}/pairings/{w['V1']}", 404, "not-found",
        method="GET"),
    # wrong state and domain rules
    Bad("accept a pairing in force", lambda w: f"{V}/pairings/{w['pairing']}/accept", 409,
        "wrong-state", who="village", json={}),
    Bad("resume a pairing in force", lambda w: f"{V}/pairings/{w['pairing']}/resume", 409,
        "wrong-state", who="supervisor", json={}),
    Bad("second pairing between the same two", pairings, 409, "duplicate",
        json=lambda w: proposal(w, receiver_id=w["V1"])),
    Bad("co-sign your own activity", lambda w: f"{V}/pairings/{w['pairing']}/activities/{w['activity']}/cosign",
        409, "not-permitted", setup="activity", json={}),
    Bad("register an existing code", organisations, 409, "duplicate", who="admin",
        json={**ORG, "code": "V1"}),
    Bad("pair a village as the giver", pairings, 422, "invalid-value", who="admin",
        json=lambda w: proposal(w, giver_id=w["V2"], receiver_id=w["V1"])),
    # headers
    Bad("If-Match not an entity tag", lambda w: f"{V}/pairings/{w['pairing']}/renew", 412,
        "precondition-failed", who="supervisor", json={"term_end": "2028-12-31"},
        headers={"If-Match": "4"}),
    Bad("If-Match naming two versions", lambda w: f"{V}/pairings/{w['pairing']}/renew", 412,
        "precondition-failed", who="supervisor", json={"term_end": "2028-12-31"},
        headers={"If-Match": '"4", "5"'}),
    Bad("stale If-Match", lambda w: f"{V}/pairings/{w['pairing']}/renew", 412, "stale-version",
        who="supervisor", json={"term_end": "2028-12-31"}, headers={"If-Match": '"1"'}),
    Bad("Idempotency-Key with spaces", activities, 400, "malformed-idempotency-key",
        json=ACTIVITY, headers={"Idempotency-Key": "my key"}),
    Bad("Idempotency-Key too long", activities, 400, "malformed-idempotency-key",
        json=ACTIVITY, headers={"Idempotency-Key": "k" * 256}),
    Bad("Basic instead of Bearer", activities, 401, "unauthenticated", json=ACTIVITY, who="",
        headers={"Authorization": "Basic YWdlbmN5OnNlY3JldA=="}),
    Bad("a token of 5000 characters", activities, 401, "unauthenticated", json=ACTIVITY, who="",
        headers={"Authorization": "Bearer " + "t" * 5000}),
    Bad("method not allowed", lambda w: f"{V}/pairings/{w['pairing']}", 405,
        "method-not-allowed", method="DELETE"),
    Bad("bad paging", lambda w: f"{V}/audit/pairings/{w['pairing']}/history?limit=-1", 422,
        "invalid-fields", method="GET"),
    Bad("unknown query parameter", lambda w: f"{V}/audit/pairings/{w['pairing']}/history?colour=red",
        422, "invalid-fields", method="GET"),
    # reports
    *(Bad(name, report(query), status, code, method="GET") for name, query, status, code in (
        ("report as of a date that does not exist", "pairings?as_of=2025-02-30", 422, "invalid-fields"),
        ("report as of a word", "inactive?as_of=yesterday", 422, "invalid-fields"),
        ("report as of year 9999", "commitments?as_of=9999-12-31", 422, "invalid-fields"),
        ("report as of a time", "tasks?as_of=2025-03-01T08:00:00%2B08:00", 422, "invalid-fields"),
        ("known_at without an offset", "pairings?known_at=2025-03-01T08:00:00", 422, "invalid-fields"),
        ("known_at a word", "pairings?known_at=soon", 422, "invalid-fields"),
        ("report in PDF", "commitments?format=pdf", 422, "invalid-fields"),
        ("cursor not handed out", "pairings?cursor=abc", 422, "invalid-fields"),
        ("cursor with SQL", "tasks?cursor=1%27%20OR%201%3D1--", 422, "invalid-fields"),
        ("page of zero rows", "inactive?limit=0", 422, "invalid-fields"),
        ("JSON page too long", "commitments?limit=5000", 422, "invalid-fields"),
        ("region with letters", "pairings?region=33ab", 422, "invalid-fields"),
        ("organisation not a UUID", "tasks?organisation=G1", 422, "invalid-fields"),
        ("evaluation of 1999", "evaluation?year=1999", 422, "invalid-fields"),
        ("paging a one-page report", "coverage?limit=10", 422, "invalid-fields"),
        ("unknown status", "pairings?status=sleeping", 422, "invalid-fields"),
        ("unknown report", "leaderboard", 404, "not-found"),
        ("unknown report parameter", "pairings?sort=score", 422, "invalid-fields"),
    )),
    Bad("inbox of an unknown organisation", report(f"inbox?organisation={uuid.UUID(int=7)}"), 404,
        "not-found", method="GET", who="supervisor"),
    # the verifiable log
    Bad("consistency backwards", audit("consistency?from=5&to=3"), 422, "invalid-fields",
        method="GET", who="evaluator"),
    Bad("consistency beyond the log", audit("consistency?from=1&to=999999"), 422,
        "invalid-fields", method="GET", who="evaluator"),
    Bad("consistency without from", audit("consistency"), 422, "invalid-fields", method="GET",
        who="evaluator"),
    Bad("inclusion of no event", audit("inclusion?position=999999"), 404, "not-found",
        method="GET", who="evaluator"),
    Bad("inclusion in a tree too small", audit("inclusion?position=20&size=2"), 422,
        "invalid-fields", method="GET", who="evaluator"),
    Bad("bundle of an unknown kind", lambda w: f"{V}/audit/spaceships/{w['pairing']}/bundle",
        404, "not-found", method="GET", who="evaluator"),
    Bad("bundle with the retired headers option", lambda w: f"{V}/audit/pairings/{w['pairing']}/bundle?headers=true",
        422, "invalid-fields", method="GET", who="evaluator"),
    Bad("bundle of an unknown pairing", lambda w: f"{V}/audit/pairings/{uuid.UUID(int=7)}/bundle",
        404, "not-found", method="GET", who="evaluator"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(templates, app, tmp_path, case: Bad):
    engine, settings, cast, ids = templates.open(case.setup, tmp_path / "var")
    rebind(app, engine, settings)
    try:
        world = {**ids, **{k: str(v) for k, v in cast.orgs.items()}}
        body = case.json(world) if callable(case.json) else case.json
        before = engine.recorder.max_notification_id()
        answer = JsonClient(app.test_client()).request(
            case.method, case.path(world), cast.tokens.get(case.who), json=body, data=case.data,
            headers=case.headers)
        assert answer.status == case.status, answer.content[:500]
        assert answer.content_type == "application/problem+json"
        problem = answer.json
        assert problem["type"] == f"urn:cobuild:problem:{case.code}"
        assert problem["status"] == case.status and problem["title"]
        if case.status == 422:
            assert problem["errors"], "a 422 names the fields at fault"
        assert engine.recorder.max_notification_id() == before
    finally:
        engine.close()


def test_unicode_text_is_kept_exactly(templates, app, tmp_path):
    engine, settings, cast, ids = templates.open("in_force", tmp_path / "var")
    rebind(app, engine, settings)
    http = JsonClient(app.test_client())
    title = "“两山”理念宣讲 🌱 — 畲族 ꆈꌠ"
    made = http.post(f"{V}/pairings/{ids['pairing']}/activities", cast.tokens["agency"],
                     {**ACTIVITY, "title": title}).expect(201)
    read = http.get(f"{V}/pairings/{ids['pairing']}/activities/{made['activity_id']}",
                    cast.tokens["village"]).expect(200)
    assert read["title"] == title
    engine.close()
