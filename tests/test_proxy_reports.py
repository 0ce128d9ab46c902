"""代录 in reports and exports (issue #16, DESIGN §13: "proxy entry is shown as 代录 everywhere").

A county admin enters a commitment for the agency and a need for the village, and records
an activity for the agency that the township clerk co-signs for the village: the commitment
ledger, the task pipeline and the status board say so, in JSON, CSV and XLSX, over HTTP and
from the CLI, with who entered what for whom and why.  A fact store built before the 代录
column is rebuilt from the log with it filled.  On the suite's store: SQLite, or PostgreSQL
when ``COBUILD_TEST_DATABASE_URL`` names one.
"""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from click.testing import CliRunner

from projections import facts
from projections.runner import ProjectionRunner
from projections.store import ProjectionDatabase
from api.root import Root
from tests.api_support import API_START, JsonClient, TokenCast, build_world, rebind
from workflows.store.clock import FakeClock

V = "/api/v1"
WHY = "村支书外出培训，由县委组织部代录"
CLERK_WHY = "村支书不会用手机，由乡镇代录"
NOW = "2025-03-01T09:00:00+08:00"


@pytest.fixture
def world(settings):
    from api.app import create_app
    from workflows.engine import open_engine

    engine = open_engine(settings, FakeClock(API_START))
    cast = TokenCast.create(engine)
    ids = build_world(cast, "in_force", settings)
    app = create_app(Root(settings, engine))
    yield engine, settings, cast, ids, JsonClient(app.test_client()), app
    app.extensions["cobuild"].close()
    engine.close()


def proxy(cast, org: str, why: str = WHY, **body):
    return {"on_behalf_of": str(cast.orgs[org]), "reason": why, **body}


def enter_by_proxy(http, cast, pairing: str) -> dict[str, str]:
    """One fact of each kind entered by a proxy, and one of each by the party itself."""
    admin = cast.tokens["admin"]
    by_proxy = http.post(f"{V}/commitments", admin, proxy(
        cast, "G1", pairing_id=pairing, made_by="giver", category="funds",
        content="代录的承诺", due_on="2025-12-31", amount_yuan="50000")).expect(201)["id"]
    http.post(f"{V}/commitments", cast.tokens["agency"], {
        "pairing_id": pairing, "made_by": "giver", "category": "funds",
        "content": "自己录入的承诺", "due_on": "2025-12-31", "amount_yuan": "50000"}).expect(201)
    need = http.post(f"{V}/tasks", admin, proxy(
        cast, "V1", receiver_id=str(cast.orgs["V1"]), category="infrastructure",
        title="代录的需求")).expect(201)["id"]
    http.post(f"{V}/tasks", cast.tokens["village"], {
        "receiver_id": str(cast.orgs["V1"]), "category": "infrastructure",
        "title": "自己提出的需求"}).expect(201)
    made = http.post(f"{V}/pairings/{pairing}/activities", admin,
                     proxy(cast, "G1", kind="visit", title="走访慰问", occurred_at=NOW)).expect(201)
    http.post(f"{V}/pairings/{pairing}/activities/{made['activity_id']}/cosign",
              cast.tokens["supervisor"], proxy(cast, "V1", CLERK_WHY)).expect(200)
    waiting = http.post(f"{V}/pairings/{pairing}/activities", admin, proxy(
        cast, "G1", kind="visit", title="入户走访", occurred_at=NOW)).expect(201)["activity_id"]
    return {"commitment": by_proxy, "task": need, "activity": waiting}


def names(http, cast) -> dict[str, str]:
    """The names a sheet shows: the admin's account and the two organisations."""
    token = cast.tokens["admin"]
    me = http.get(f"{V}/users/me", token).expect(200)
    admin = http.get(f"{V}/users/{me['user_id']}", token).expect(200)
    return {"admin": admin["name"], **{
        org: http.get(f"{V}/organisations/{cast.orgs[org]}", token).expect(200)["name"]
        for org in ("G1", "V1")}}


def assert_json_shows_proxy_entry(http, cast, ids, entered) -> None:
    who = names(http, cast)
    token = cast.tokens["evaluator"]
    commitments = {i["content"]: i for i in http.get(f"{V}/reports/commitments", token).expect(200)["items"]}
    assert commitments["自己录入的承诺"]["entered_by_proxy"] is False
    assert commitments["自己录入的承诺"]["proxy_entries"] == []
    item = commitments["代录的承诺"]
    assert item["id"] == entered["commitment"] and item["entered_by_proxy"] is True
    [entry] = item["proxy_entries"]
    assert (entry["event"], entry["event_label"], entry["reason"]) == ("CommitmentMade", "作出承诺", WHY)
    assert (entry["entered_by_name"], entry["on_behalf_of_name"]) == (who["admin"], who["G1"])
    assert entry["on_behalf_of_id"] == str(cast.orgs["G1"]) and entry["day"] == "2025-03-01"

    tasks = {i["title"]: i for i in http.get(f"{V}/reports/tasks", token).expect(200)["items"]}
    assert tasks["自己提出的需求"]["entered_by_proxy"] is False
    [entry] = tasks["代录的需求"]["proxy_entries"]
    assert tasks["代录的需求"]["entered_by_proxy"] is True
    assert (entry["event_label"], entry["on_behalf_of_name"], entry["reason"]) == ("提出需求", who["V1"], WHY)

    [board] = [i for i in http.get(f"{V}/reports/pairings", token).expect(200)["items"]
               if i["pairing_id"] == ids["pairing"]]
    assert board["proxy_activities"] == 1 and board["cosigned_activities"] >= 1

    # What waits on an organisation says so too: the village co-signs an activity the
    # county entered for the agency; the agency may claim a need entered for the village.
    inbox = http.get(f"{V}/reports/inbox", cast.tokens["village"]).expect(200)["items"]
    [cosign] = [i for i in inbox if i["kind"] == "cosign_activity"]
    assert cosign["activity_id"] == entered["activity"] and cosign["entered_by_proxy"] is True
    assert [(e["event_label"], e["reason"]) for e in cosign["proxy_entries"]] == [("记录共建活动", WHY)]
    claims = {i["title"]: i for i in http.get(f"{V}/reports/inbox", cast.tokens["agency"]).expect(200)["items"]
              if i["kind"] == "claim_need"}
    assert claims["代录的需求"]["entered_by_proxy"] is True
    assert claims["自己提出的需求"]["entered_by_proxy"] is False


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def xlsx_rows(content: bytes) -> list[dict[str, str]]:
    """The first sheet's rows by header (row 1 is the sheet's title, row 2 the headers)."""
    sheet = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    lines = [[c.value for c in row] for row in sheet.iter_rows()]
    header_at = next(i for i, line in enumerate(lines) if "代录" in line)
    return [dict(zip(lines[header_at], line)) for line in lines[header_at + 1:]]


def assert_sheet_shows_proxy_entry(rows: list[dict[str, str]], key: str, who, whom: str) -> None:
    by_key = {r[key]: r for r in rows}
    mine = by_key["自己录入的承诺" if key == "承诺内容" else "自己提出的需求"]
    assert (mine["代录"], mine["代录说明"] or "") == ("否", "")
    theirs = by_key["代录的承诺" if key == "承诺内容" else "代录的需求"]
    assert theirs["代录"] == "是"
    event = "作出承诺" if key == "承诺内容" else "提出需求"
    assert theirs["代录说明"] == f"{event}：{who['admin']}代{who[whom]}录入，原因：{WHY}"


def test_reports_and_http_exports_mark_what_a_proxy_entered(world):
    engine, settings, cast, ids, http, app = world
    entered = enter_by_proxy(http, cast, ids["pairing"])
    assert_json_shows_proxy_entry(http, cast, ids, entered)
    who, token = names(http, cast), cast.tokens["supervisor"]
    for report, key, whom in (("commitments", "承诺内容", "G1"), ("tasks", "需求", "V1")):
        answer = http.get(f"{V}/reports/{report}?format=csv", token)
        assert answer.status == 200
        assert_sheet_shows_proxy_entry(csv_rows(answer.content.decode("utf-8")), key, who, whom)
        answer = http.get(f"{V}/reports/{report}?format=xlsx", token)
        assert answer.status == 200
        assert_sheet_shows_proxy_entry(xlsx_rows(answer.content), key, who, whom)
    board = csv_rows(http.get(f"{V}/reports/pairings?format=csv", token).content.decode("utf-8"))
    assert [r["代录活动数"] for r in board if r["结对编号"] == ids["pairing"]] == ["1"]
    inbox = csv_rows(http.get(f"{V}/reports/inbox?format=csv", cast.tokens["village"]).content.decode("utf-8"))
    assert [(r["代录"], r["代录说明"]) for r in inbox if r["内容"] == "入户走访"] == [
        ("是", f"记录共建活动：{who['admin']}代{who['G1']}录入，原因：{WHY}")]


def test_cli_exports_mark_what_a_proxy_entered(world, monkeypatch, tmp_path):
    from api.cli.reports import report

    engine, settings, cast, ids, http, app = world
    enter_by_proxy(http, cast, ids["pairing"])
    who = names(http, cast)
    for name, value in settings.environ().items():
        monkeypatch.setenv(name, value)
    cli = CliRunner()
    for name, key, whom in (("commitments", "承诺内容", "G1"), ("tasks", "需求", "V1")):
        out = cli.invoke(report, [name, "--format", "csv"])
        assert out.exit_code == 0, out.output
        assert_sheet_shows_proxy_entry(csv_rows(out.output), key, who, whom)
        target = tmp_path / f"{name}.xlsx"
        out = cli.invoke(report, [name, "--format", "xlsx", "--output", str(target)])
        assert out.exit_code == 0, out.output
        assert_sheet_shows_proxy_entry(xlsx_rows(target.read_bytes()), key, who, whom)


def test_a_fact_store_built_before_proxy_entries_is_rebuilt_with_them(world):
    """Older code's fact tables lack 代录: opening them rebuilds from the log, which has it."""
    engine, settings, cast, ids, http, app = world
    entered = enter_by_proxy(http, cast, ids["pairing"])
    db = ProjectionDatabase.for_settings(settings)
    runner = ProjectionRunner(engine, db)
    runner.catch_up()
    version = runner.status().active_version
    with db.write() as conn:
        conn.execute(f"DROP TABLE v{version}_proxy_entry")
        assert not facts.is_current(conn, f"v{version}_")
    reopened = ProjectionRunner(engine, db)
    assert reopened.status().active_version == version + 1
    db.close()
    app.extensions["cobuild"].close()
    rebind(app, engine, settings)
    assert_json_shows_proxy_entry(http, cast, ids, entered)


def test_the_status_board_marks_the_acts_on_a_pairing_a_proxy_entered(world):
    """The county proposes and signs for 供电公司; 黄岩村 accepts and signs itself: the
    pairing's board row says 代录 and which acts, in JSON and CSV; the other pairing's not."""
    engine, settings, cast, ids, http, app = world
    admin, village = cast.tokens["admin"], cast.tokens["village2"]
    p = http.post(f"{V}/pairings", admin, proxy(
        cast, "G2", giver_id=str(cast.orgs["G2"]), receiver_id=str(cast.orgs["V2"]),
        term_start="2025-01-01", term_end="2027-12-31")).expect(201)["id"]
    http.post(f"{V}/pairings/{p}/accept", village, {}).expect(200)
    http.post(f"{V}/pairings/{p}/sign-agreement", admin,
              proxy(cast, "G2", signed_on="2025-03-01")).expect(200)
    http.post(f"{V}/pairings/{p}/sign-agreement", village, {"signed_on": "2025-03-01"}).expect(200)
    who = names(http, cast)
    token = cast.tokens["supervisor"]
    board = {i["pairing_id"]: i for i in http.get(f"{V}/reports/pairings", token).expect(200)["items"]}
    assert board[ids["pairing"]]["entered_by_proxy"] is False
    assert board[ids["pairing"]]["proxy_entries"] == []
    row = board[p]
    assert row["entered_by_proxy"] is True and row["proxy_activities"] == 0
    assert [(e["event"], e["event_label"], e["entered_by_name"], e["on_behalf_of_id"], e["reason"],
             e["activity_id"]) for e in row["proxy_entries"]] == [
        (event, label, who["admin"], str(cast.orgs["G2"]), WHY, None)
        for event, label in (("PairingProposed", "发起结对"), ("AgreementSigned", "签订共建协议"))]
    sheet = {r["结对编号"]: r for r in csv_rows(
        http.get(f"{V}/reports/pairings?format=csv", token).content.decode("utf-8"))}
    assert (sheet[ids["pairing"]]["代录"], sheet[ids["pairing"]]["代录说明"]) == ("否", "")
    assert sheet[p]["代录"] == "是" and sheet[p]["代录说明"] == "；".join(
        f"{event}：{who['admin']}代县供电公司党委录入，原因：{WHY}" for event in ("发起结对", "签订共建协议"))
