"""The evaluator's pages through Flask's test client: a round (compute, objections resolved,
results by 五好 dimension listed by name with no ranks), a record's history with its evidence
bundle verified in words, the ledgers as files; bad input, CSRF, another county (DESIGN §12)."""
from __future__ import annotations

import io
import json
import re
import pytest

from domain.evaluation import EvaluationRound
from projections.evaluations import ProjectionScorer
from tests.support import COUNTY
from tests.test_web_pages_acts import Person, error_beside, events, person, text, web  # noqa: F401
from workflows.audit.checkpoint import KeyDirectory
from workflows.audit.verifier import VerifierKey, verify_bundle


@pytest.fixture
def desk(web, engine, cast):  # noqa: F811 - the pages' fixture
    for name, role, region, login in (("孙组长", "evaluator", COUNTY, "sunzz"),
                                      ("外县考核", "evaluator", "330100", "waixian")):
        outcome, _ = engine.register_user(cast.admin, name, role, None, region, login=login)
        engine.activate_account(login, outcome.details["activation_code"], "石练村2025春")
    person(engine, cast, "李支书", "village", cast.village, "lizs")
    browsers = {}
    for login in ("sunzz", "waixian", "lizs"):
        b = Person(web)
        assert b.sign_in(login).status_code == 302
        browsers[login] = b
    return browsers


def round_with_an_objection(engine, cast, clock):
    p = cast.pairing_in_force()
    engine.open_evaluation(cast.admin, 2025, COUNTY)
    r = engine.evaluation_round_of(COUNTY, 2025)
    return p, r.id


def test_an_evaluator_computes_a_round_and_reads_the_results_by_name_without_ranks(engine, cast, desk, clock):
    p, round_id = round_with_an_objection(engine, cast, clock)
    ev = desk["sunzz"]
    listed = text(ev.get("/rounds"))
    assert "2025 年度考核" in listed and "联评中" in listed
    page = text(ev.get(f"/rounds/{round_id}"))
    assert "计分规则" in page and "默认规则" in page and "还没有计算得分" in page
    assert ev.post(f"/rounds/{round_id}/compute", {}, csrf=False).status_code == 400
    before = events(engine)
    done = ev.post(f"/rounds/{round_id}/compute", {})
    assert done.status_code == 302 and events(engine) > before
    page = text(ev.get(done.headers["Location"]))
    assert "已计算得分" in page and "已计分" in page
    for words in ("思想作风好", "工作机制好", "团结协作好", "发展业绩好", "群众反映好", "总分", "等次"):
        assert words in page
    assert "县财政局机关党委" in page and "大柘镇石练村党支部" in page
    assert "不排名次" in page and "名次</th>" not in page and "排名</th>" not in page  # never ranked
    data = json.loads(re.search(r'class="chart-data">(.*?)</script>', page, re.S).group(1))
    assert data["dimensions"][0] == "工作机制好" and [s["name"] for s in data["series"]] == ["平均得分", "满分"]
    # Another county's evaluator, and a village, see nothing of it.
    assert desk["waixian"].get(f"/rounds/{round_id}").status_code == 403
    assert desk["lizs"].get("/rounds").status_code == 403


def test_an_objection_is_resolved_with_a_reason_beside_the_field(engine, cast, desk, clock):
    p, round_id = round_with_an_objection(engine, cast, clock)
    projections = desk["sunzz"].client.application.extensions["cobuild"].projections
    engine.compute_evaluation(cast.evaluator, round_id, ProjectionScorer(projections))
    engine.publicise_evaluation(cast.admin, round_id)
    engine.raise_evaluation_objection(cast.villager, round_id, "活动次数统计少了一次", pairing_id=p)
    oid = next(iter(engine.load(EvaluationRound, round_id).objections))
    ev = desk["sunzz"]
    page = text(ev.get(f"/rounds/{round_id}"))
    assert "活动次数统计少了一次" in page and "待处理" in page and "大柘镇石练村党支部" in page
    before = events(engine)
    bad = ev.post(f"/rounds/{round_id}/objections/{oid}/resolve", {f"resolution-{oid}": "upheld",
                                                                   f"reason-{oid}": " "})
    assert bad.status_code == 422 and events(engine) == before
    assert error_beside(text(bad), f"reason-{oid}") == "请填写处理理由"
    ok = ev.post(f"/rounds/{round_id}/objections/{oid}/resolve", {f"resolution-{oid}": "dismissed",
                                                                  f"reason-{oid}": "已核对，统计无误"})
    assert ok.status_code == 302
    assert "异议不成立" in text(ev.get(f"/rounds/{round_id}"))


def test_a_record_s_history_and_its_bundle_verify_in_words(engine, cast, desk, settings):
    p = cast.pairing_in_force()
    ev = desk["sunzz"]
    page = text(ev.get(f"/records/pairing/{p}"))
    assert "结对档案：县财政局机关党委 — 大柘镇石练村党支部" in page
    assert "已验证：共 4 条事件，完整，未被篡改" in page
    assert "发起结对" in page and "签订共建协议" in page
    download = ev.get(f"/records/pairing/{p}/bundle.json")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    bundle = json.loads(download.get_data(as_text=True))
    key = VerifierKey.parse(KeyDirectory(settings.home / "keys").vkey_path.read_text())
    assert verify_bundle(bundle, key, require_complete=True).ok
    assert desk["waixian"].get(f"/records/pairing/{p}").status_code == 403
    assert desk["waixian"].get(f"/records/pairing/{p}/bundle.json").status_code == 403


def test_the_ledgers_download_as_files_with_chinese_headers(engine, cast, desk):
    from openpyxl import load_workbook
    ev = desk["sunzz"]
    assert "承诺台账" in text(ev.get("/ledgers")) and "项目清单" in text(ev.get("/ledgers"))
    csv = ev.get("/ledgers/commitments.csv")
    assert csv.status_code == 200 and "承诺内容" in csv.get_data(as_text=True)
    xlsx = ev.get("/ledgers/tasks.xlsx")
    book = load_workbook(io.BytesIO(xlsx.data))
    assert "项目清单" in book.sheetnames
    assert ev.get("/ledgers/secrets.csv").status_code == 404


# -- an admin opens a round from the rounds page ------------------------------------------------

def test_an_admin_opens_a_round_from_the_page_and_the_evaluator_sees_it(engine, cast, desk):
    outcome, _ = engine.register_user(cast.admin, "周部长", "admin", None, COUNTY, login="zhoubz")
    engine.activate_account("zhoubz", outcome.details["activation_code"], "石练村2025春")
    admin = Person(desk["sunzz"].client.application)
    assert admin.sign_in("zhoubz").status_code == 302
    year = str(engine.today().year)
    page = text(admin.get("/rounds"))
    assert "开启年度考核" in page and "考核年度" in page and "考核范围" in page
    assert "开启年度考核" not in text(desk["sunzz"].get("/rounds"))  # the form is the admin's

    before = events(engine)
    assert admin.post("/rounds/new", {"year": year, "region_code": COUNTY},
                      csrf=False).status_code == 400
    for year_typed, words in (("", "请填写考核年度"), ("明年", "考核年度请填写 2000 到"),
                              (str(int(year) + 1), f"2000 到 {year} 之间的年份"),
                              ("1999", "考核年度请填写 2000 到")):
        bad = admin.post("/rounds/new", {"year": year_typed, "region_code": COUNTY})
        assert bad.status_code == 422 and words in error_beside(text(bad), "year")
    bad = admin.post("/rounds/new", {"year": year, "region_code": "330100"})  # not theirs
    assert bad.status_code == 422 and error_beside(text(bad), "region_code") == "请从列表中选择考核范围"
    assert events(engine) == before  # nothing written on bad input
    assert desk["sunzz"].post("/rounds/new", {"year": year, "region_code": COUNTY}).status_code == 403

    done = admin.post("/rounds/new", {"year": year, "region_code": COUNTY})
    assert done.status_code == 302 and events(engine) > before
    assert "已开启年度考核" in text(admin.get(done.headers["Location"]))
    again = admin.post("/rounds/new", {"year": year, "region_code": COUNTY})
    assert again.status_code == 422
    assert error_beside(text(again), "year") == f"{year} 年度考核已经开启，不能重复开启"

    listed = text(desk["sunzz"].get("/rounds"))  # the county's evaluator sees it
    assert f"{year} 年度考核" in listed and "联评中" in listed


def test_the_rounds_name_their_rules_in_words_default_until_one_is_published(engine, cast, desk):
    """No rule set published: 「默认规则」, never 「规则集版本 0」; then 「规则集第 1 版」."""
    engine.open_evaluation(cast.admin, 2024, COUNTY)
    engine.publish_rules(cast.admin, {"r2_inactive_days": 60}, "按县委组织部通知调整")
    engine.open_evaluation(cast.admin, 2025, COUNTY)
    ev = desk["sunzz"]
    listed = text(ev.get("/rounds"))
    assert "版本 0" not in listed and "默认规则" in listed and "规则集第 1 版" in listed
    first = engine.evaluation_round_of(COUNTY, 2024).id
    page = text(ev.get(f"/rounds/{first}"))
    assert "默认规则" in page and "版本" not in page
    assert "规则集第 1 版" in text(ev.get(f"/rounds/{engine.evaluation_round_of(COUNTY, 2025).id}"))
