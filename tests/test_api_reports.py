"""Reports and the verifiable log over HTTP: what each role sees, as of which date, page by
page and as files; checkpoints and proofs that check with the offline verifier."""
from __future__ import annotations

import base64
import csv
import io
import uuid
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from projections.history import HistoryReader
from workflows.audit import verifier
from workflows.audit.merkle import leaf_hash
from tests.api_support import JsonClient, rebind
from tests.support import COUNTY

V = "/api/v1"


@pytest.fixture
def world(templates, app, tmp_path):
    opened = []

    def open_world(setup: str):
        engine, settings, cast, ids = templates.open(setup, tmp_path / "var")
        opened.append(engine)
        rebind(app, engine, settings)
        return engine, cast, ids, JsonClient(app.test_client())

    yield open_world
    for engine in opened:
        engine.close()


def board(http, token, query="") -> dict:
    return http.get(f"{V}/reports/pairings{query}", token).expect(200)


# -- the status board --------------------------------------------------------------------------

def test_the_board_turns_inactive_ninety_days_after_the_last_cosigned_activity(world):
    engine, cast, ids, http = world("activity")
    p = ids["pairing"]
    http.post(f"{V}/pairings/{p}/activities/{ids['activity']}/cosign", cast.tokens["village"],
              {}).expect(200)
    quiet = board(http, cast.tokens["supervisor"], "?as_of=2025-05-29")["items"]
    assert [(i["pairing_id"], i["status"], i["rule_hits"]) for i in quiet] == [(p, "active", [])]
    item = quiet[0]
    assert item["giver_id"] == str(cast.orgs["G1"]) and item["receiver_id"] == str(cast.orgs["V1"])
    assert item["last_activity_on"] == "2025-03-01" and item["cosigned_activities"] == 1

    late = board(http, cast.tokens["supervisor"], "?as_of=2025-05-30")
    assert late["as_of"] == "2025-05-30"
    (item,) = late["items"]
    assert item["status"] == "paired_but_inactive"
    assert item["status_label"] == "联而不动"
    assert item["rule_hits"] == [{"rule": "R2", "rule_label": "联而不动", "severity": "warning",
                                  "severity_label": "预警", "measured": {
        "days_without_activity": 90, "threshold_days": 90, "red_days": 180,
        "last_active_on": "2025-03-01", "last_activity_on": "2025-03-01"}}]
    inactive = http.get(f"{V}/reports/inactive?as_of=2025-05-30", cast.tokens["evaluator"])
    assert [i["pairing_id"] for i in inactive.expect(200)["items"]] == [p]
    assert http.get(f"{V}/reports/inactive?as_of=2025-05-29",
                    cast.tokens["evaluator"]).expect(200)["items"] == []
    only_active = board(http, cast.tokens["admin"], "?as_of=2025-05-30&status=active")
    assert only_active["items"] == []


def test_a_report_includes_the_write_just_answered(world):
    engine, cast, ids, http = world("activity")
    p = ids["pairing"]
    assert board(http, cast.tokens["agency"])["items"][0]["cosigned_activities"] == 0
    cosigned = http.post(f"{V}/pairings/{p}/activities/{ids['activity']}/cosign",
                         cast.tokens["village"], {}).expect(200)
    after = board(http, cast.tokens["agency"])
    assert after["position"] >= cosigned["position"]
    assert after["items"][0]["cosigned_activities"] == 1


def test_known_at_leaves_out_what_was_recorded_later(world):
    """Recorded time is the engine's clock, so the cut is taken from it."""
    engine, cast, ids, http = world("in_force")
    p = ids["pairing"]
    cut = engine.clock.now().isoformat().replace("+", "%2B")
    engine.clock.advance(days=10)
    made = http.post(f"{V}/pairings/{p}/activities", cast.tokens["agency"], {
        "kind": "visit", "title": "走访（补录）", "occurred_at": "2025-03-01T10:00:00+08:00"}).expect(201)
    http.post(f"{V}/pairings/{p}/activities/{made['activity_id']}/cosign", cast.tokens["village"],
              {}).expect(200)
    now = board(http, cast.tokens["agency"])["items"][0]
    then = board(http, cast.tokens["agency"], f"?known_at={cut}")["items"][0]
    assert now["cosigned_activities"] == 1 and now["last_activity_on"] == "2025-03-01"
    assert then["cosigned_activities"] == 0 and then["last_activity_on"] is None


# -- scope -------------------------------------------------------------------------------------

def test_each_role_sees_the_rows_of_its_scope(world):
    engine, cast, ids, http = world("commitment:public")
    p, c = ids["pairing"], ids["commitment"]
    sees = {"admin": True, "supervisor": True, "evaluator": True, "agency": True, "village": True,
            "agency2": False, "village2": False, "outsider": False}
    for role, visible in sees.items():
        token = cast.tokens[role]
        assert [i["pairing_id"] for i in board(http, token)["items"]] == ([p] if visible else []), role
        ledger = http.get(f"{V}/reports/commitments", token).expect(200)["items"]
        assert [i["id"] for i in ledger] == ([c] if visible else []), role
        evaluation = http.get(f"{V}/reports/evaluation", token).expect(200)
        assert [i["pairing_id"] for i in evaluation["items"]] == ([p] if visible else []), role
    own = http.get(f"{V}/reports/evaluation", cast.tokens["agency"]).expect(200)
    assert [o["organisation_id"] for o in own["organisations"]] == [str(cast.orgs["G1"])]
    refused = http.get(f"{V}/reports/pairings?region={COUNTY}", cast.tokens["supervisor"])
    assert refused.status == 403 and refused.json["details"]["rule"] == "region-scope"
    narrowed = board(http, cast.tokens["evaluator"], f"?region={COUNTY}101202")
    assert narrowed["items"] == []


def test_the_inbox_lists_what_waits_on_the_organisation(world):
    engine, cast, ids, http = world("activity")
    villager = http.get(f"{V}/reports/inbox", cast.tokens["village"]).expect(200)
    assert villager["organisation_id"] == str(cast.orgs["V1"])
    assert [(i["kind"], i["activity_id"]) for i in villager["items"]] == [
        ("cosign_activity", ids["activity"])]
    clerk = http.get(f"{V}/reports/inbox?organisation={cast.orgs['V1']}",
                     cast.tokens["supervisor"]).expect(200)
    assert clerk["items"] == villager["items"]
    assert http.get(f"{V}/reports/inbox", cast.tokens["agency"]).expect(200)["items"] == []


def test_coverage_counts_the_region_one_level_down(world):
    engine, cast, ids, http = world("in_force")
    coverage = http.get(f"{V}/reports/coverage", cast.tokens["evaluator"]).expect(200)
    assert coverage["region"] == COUNTY and coverage["next_cursor"] is None
    assert coverage["totals"]["villages"] == 2 and coverage["totals"]["villages_paired"] == 1
    assert coverage["totals"]["agencies"] == 2 and coverage["totals"]["agencies_paired"] == 1
    assert [a["code"] for a in coverage["agencies_without_village"]] == ["G2"]


def test_followups_list_open_cases_by_region_and_age(world):
    engine, cast, ids, http = world("in_force")
    pairing = uuid.UUID(ids["pairing"])
    engine.open_followup(cast.actors["admin"], "pairing", pairing, cast.orgs["G1"],
                         "半年未见联合活动，请说明")
    answer = http.get(f"{V}/reports/followups", cast.tokens["evaluator"]).expect(200)
    assert [(i["subject_id"], i["state"], i["rule"]) for i in answer["items"]] == [
        (str(pairing), "open", "manual")]
    assert answer["totals"]["open"] == 1 and answer["totals"]["days_0_30"] == 1
    http.get(f"{V}/reports/followups", cast.tokens["agency"]).expect(403)
    exported = http.get(f"{V}/reports/followups?format=csv", cast.tokens["evaluator"])
    assert exported.status == 200 and exported.content_type == "text/csv"
    header = exported.content.decode("utf-8").lstrip("\ufeff").splitlines()[0]
    assert "责任组织" in header and "已开天数" in header


# -- pages and files --------------------------------------------------------------------------

def more_pairings(engine, cast, count: int) -> set[str]:
    admin = cast.actors["admin"]
    made = set()
    for n in range(count):
        village = engine.register_organisation(admin, f"V{n + 3}", f"大柘镇第{n + 3}村党支部", "village",
                                               f"{COUNTY}1012{n + 3:02d}").id
        p = engine.propose_pairing(admin, cast.orgs["G1"], village, date(2025, 1, 1),
                                   date(2027, 12, 31)).id
        # The admin assigned the pairing for G1 (its side); the township clerk enters the
        # new villages' side (one person never writes both sides).
        clerk, why = cast.actors["supervisor"], "新结对村尚无账号，由乡镇代录"
        engine.accept_pairing(clerk, p, on_behalf_of=village, reason=why)
        engine.sign_agreement(admin, p, engine.today(), on_behalf_of=cast.orgs["G1"],
                              reason="县委组织部统一签约")
        engine.sign_agreement(clerk, p, engine.today(), on_behalf_of=village, reason=why)
        made.add(str(p))
    return made


@pytest.mark.parametrize("report", ["pairings", "evaluation"])
def test_pages_follow_the_cursor_to_the_end_without_repeats(world, report):
    engine, cast, ids, http = world("in_force")
    expected = more_pairings(engine, cast, 4) | {ids["pairing"]}
    seen: list[str] = []
    query = "?limit=2"
    for _ in range(10):
        page = http.get(f"{V}/reports/{report}{query}", cast.tokens["evaluator"]).expect(200)
        assert len(page["items"]) <= 2
        seen += [i["pairing_id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        query = f"?limit=2&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == 5 and set(seen) == expected


def test_ledgers_export_as_csv_and_xlsx_with_chinese_headers(world):
    engine, cast, ids, http = world("commitment:public")
    answer = http.get(f"{V}/reports/commitments?format=csv", cast.tokens["agency"])
    assert answer.status == 200 and answer.content_type == "text/csv"
    assert 'filename="commitments-2025-03-01.csv"' in answer.header("Content-Disposition")
    text = answer.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][:3] == ["承诺方", "受益方", "区划代码"] and rows[0][-1] == "承诺编号"
    assert rows[1][-1] == ids["commitment"] and "资助村道硬化" in rows[1][4]

    answer = http.get(f"{V}/reports/pairings?format=xlsx", cast.tokens["supervisor"])
    assert answer.status == 200
    book = load_workbook(io.BytesIO(answer.content))
    sheet = book["结对状态"]
    title = sheet.cell(1, 1).value
    assert title.startswith("结对状态") and "截至 2025-03-01" in title and "默认规则" in title
    assert sheet.cell(1, 1).font.bold and sheet.cell(2, 1).font.bold
    headers = [c.value for c in sheet[2]]
    assert headers[:4] == ["帮扶方", "受援方", "区划代码", "综合状态"] and headers[-1] == "结对编号"
    assert sheet.cell(3, 4).value == "正常" and sheet.cell(3, len(headers)).value == ids["pairing"]
    in_force_on = sheet.cell(3, headers.index("生效日期") + 1)
    assert in_force_on.is_date and in_force_on.value.date().isoformat() == "2025-03-01"
    assert sheet.column_dimensions["A"].width > 8


def test_an_export_names_the_next_file_when_rows_remain(world):
    engine, cast, ids, http = world("in_force")
    more_pairings(engine, cast, 2)
    first = http.get(f"{V}/reports/pairings?format=csv&limit=2", cast.tokens["admin"])
    assert first.status == 200 and len(first.content.decode().splitlines()) == 3
    cursor = first.header("X-Next-Cursor")
    rest = http.get(f"{V}/reports/pairings?format=csv&limit=2&cursor={cursor}", cast.tokens["admin"])
    assert len(rest.content.decode().splitlines()) == 2 and rest.header("X-Next-Cursor") is None


# -- the verifiable log --------------------------------------------------------------------------

def pinned_key(http, cast) -> verifier.VerifierKey:
    return verifier.VerifierKey.parse(
        http.get(f"{V}/audit/vkey", cast.tokens["evaluator"]).content.decode())


def test_a_bundle_from_the_api_verifies_offline_and_edits_are_caught(world):
    engine, cast, ids, http = world("task:delivered")
    key = pinned_key(http, cast)
    bundle = http.get(f"{V}/audit/tasks/{ids['task']}/bundle", cast.tokens["village"]).expect(200)
    assert bundle["originator_id"] == ids["task"]
    assert [e["originator_version"] for e in bundle["events"]] == [1, 2, 3, 4]
    report = verifier.verify_bundle(bundle, key)
    assert report.ok, report.problems
    bundle["events"][1]["topic"] = "domain.task:ServiceTask.TaskCancelled"
    assert not verifier.verify_bundle(bundle, key).ok


def test_checkpoints_grow_and_each_extends_the_last(world):
    engine, cast, ids, http = world("proposed")
    key = pinned_key(http, cast)
    first = http.get(f"{V}/audit/checkpoint", cast.tokens["evaluator"])
    assert first.status == 200 and first.content_type == "text/plain"
    old = first.content.decode()
    assert http.get(f"{V}/audit/checkpoint", cast.tokens["admin"]).content.decode() == old
    http.post(f"{V}/pairings/{ids['pairing']}/accept", cast.tokens["village"], {}).expect(200)
    old_size = verifier.open_checkpoint(old, key).size
    proof = http.get(f"{V}/audit/consistency?from={old_size}", cast.tokens["evaluator"]).expect(200)
    new = verifier.open_checkpoint(proof["checkpoint"], key)
    assert new.size == old_size + 1 == proof["to_size"]
    hashes = [base64.b64decode(h) for h in proof["proof"]]
    assert verifier.check_consistency(old, proof["checkpoint"], hashes, key).ok
    assert not verifier.check_consistency(old, proof["checkpoint"], hashes[::-1], key).ok


def test_an_inclusion_proof_leads_to_the_signed_root(world):
    engine, cast, ids, http = world("in_force")
    key = pinned_key(http, cast)
    positions = HistoryReader(engine).positions(uuid.UUID(ids["pairing"]))
    accepted = positions[2]
    proof = http.get(f"{V}/audit/inclusion?position={accepted}", cast.tokens["supervisor"]).expect(200)
    signed = verifier.open_checkpoint(proof["checkpoint"], key)
    assert proof["position"] == accepted and proof["tree_size"] == signed.size
    leaf = base64.b64decode(proof["leaf_input"])
    assert verifier.decode_leaf(leaf).originator_id == ids["pairing"]
    verifier.verify_inclusion(proof["leaf_index"], signed.size, leaf_hash(leaf),
                              [base64.b64decode(h) for h in proof["proof"]], signed.root)
    older = http.get(f"{V}/audit/inclusion?position={accepted}&size={proof['leaf_index'] + 1}",
                     cast.tokens["supervisor"]).expect(200)
    assert older["checkpoint"] is None and older["tree_size"] == proof["leaf_index"] + 1
    refused = http.get(f"{V}/audit/inclusion?position={accepted}", cast.tokens["outsider"])
    assert refused.status == 403 and refused.json["details"]["rule"] == "not-in-scope"


def fields_of(schema_class) -> set[str]:
    return {f.data_key or name for name, f in schema_class().fields.items()}


def test_answers_carry_exactly_the_documented_fields(world):
    """The views answer the projections' rows as they are; the schemas must name them all."""
    from api.http import reports as documented
    from api.http.reports import schema_of
    from projections import rows

    engine, cast, ids, http = world("task:delivered")
    engine.make_commitment(cast.actors["agency"], uuid.UUID(ids["pairing"]), "giver", "talent",
                           "选派 2 名技术骨干驻村指导", date(2025, 9, 30), quantity=Decimal("2"), unit="人")
    token = cast.tokens["evaluator"]
    for name, schema, item_schema in (
            ("pairings", documented.Board, schema_of(rows.BoardItem)),
            ("inactive?as_of=2025-12-31", documented.Board, schema_of(rows.BoardItem)),
            ("commitments", documented.Commitments, schema_of(rows.CommitmentItem)),
            ("tasks", documented.Tasks, schema_of(rows.TaskItem)),
            ("evaluation", documented.Evaluation, schema_of(rows.PairingScore)),
            ("coverage", documented.Coverage, schema_of(rows.CoverageRow))):
        answer = http.get(f"{V}/reports/{name}", token).expect(200)
        assert set(answer) == fields_of(schema), name
        assert answer["items"], name
        for item in answer["items"]:
            assert set(item) == fields_of(item_schema), name
    hits = http.get(f"{V}/reports/inactive?as_of=2025-12-31", token).expect(200)["items"][0]
    assert {h["rule"] for h in hits["rule_hits"]} >= {"R3"}
    for hit in hits["rule_hits"]:
        assert set(hit) == fields_of(schema_of(rows.RuleHitItem))
    coverage = http.get(f"{V}/reports/coverage", token).expect(200)
    assert set(coverage["agencies_without_village"][0]) == fields_of(schema_of(rows.OrganisationRow))
    evaluation = http.get(f"{V}/reports/evaluation", token).expect(200)
    assert set(evaluation["organisations"][0]) == fields_of(schema_of(rows.OrganisationScore))
    inbox = http.get(f"{V}/reports/inbox", cast.tokens["village"]).expect(200)
    assert set(inbox) == fields_of(documented.Inbox)
    assert set(inbox["items"][0]) <= fields_of(schema_of(rows.InboxItem))
