"""The admin's pages through Flask's test client: organisations (search, import with a
preview, every row or none), users (create with the activation code shown once, deactivate,
reset), the rule set (publish, a bad value beside its field); nothing written on bad input,
CSRF, another county (DESIGN §12)."""
from __future__ import annotations

import io
import re

import pytest

from domain.user import User
from tests.support import COUNTY
from tests.test_web_pages_acts import Person, error_beside, events, person, text, web  # noqa: F401

GOOD = ("code,name,kind,region_code\n"
        f"V9,大柘镇新村党支部,village,{COUNTY}101203\n"
        f"G9,县教育局机关党委,agency,{COUNTY}000000\n")
BAD = ("code,name,kind,region_code\n"
       f"V9,大柘镇新村党支部,village,{COUNTY}101203\n"
       "V8,某村党支部,farm,12345\n"
       f"V9,重复村党支部,village,{COUNTY}101204\n")


@pytest.fixture
def desk(web, engine, cast):  # noqa: F811 - the pages' fixture
    for name, region, login in (("组织部刘", COUNTY, "liubz"), ("外县组织部", "330100", "waixian")):
        outcome, _ = engine.register_user(cast.admin, name, "admin", None, region, login=login)
        engine.activate_account(login, outcome.details["activation_code"], "石练村2025春")
    browsers = {}
    for login in ("liubz", "waixian"):
        b = Person(web)
        assert b.sign_in(login).status_code == 302
        browsers[login] = b
    return browsers


def upload(browser, content: str, step: str = "preview"):
    data = {"csrf_token": browser.token("/me"), "step": step,
            "file": (io.BytesIO(content.encode("utf-8-sig")), "orgs.csv")}
    return browser.client.post("/organisations/import", data=data, base_url=browser.base_url,
                               content_type="multipart/form-data")


def test_an_import_is_previewed_then_confirmed_every_row_or_none(engine, cast, desk):
    admin = desk["liubz"]
    before = events(engine)
    bad = upload(admin, BAD)
    assert bad.status_code == 422 and events(engine) == before
    body = text(bad)
    assert "没有导入任何一行" in body
    assert "第 3 行：" in body and "第 4 行：组织代码与第 2 行重复" in body
    preview = upload(admin, GOOD)
    assert preview.status_code == 200 and events(engine) == before  # a preview writes nothing
    body = text(preview)
    assert "共 2 行，全部检查通过" in body and "大柘镇新村党支部" in body and "机关" in body
    content = re.search(r'<textarea name="content"[^>]*>(.*?)</textarea>', body, re.S).group(1)
    done = admin.post("/organisations/import", {"step": "confirm", "content": content.replace("&#34;", '"')})
    assert done.status_code == 302 and events(engine) == before + 2
    listed = text(admin.get(done.headers["Location"]))
    assert "已导入 2 个党组织" in listed and "县教育局机关党委" in listed
    assert "大柘镇新村党支部" in text(admin.get("/organisations?q=新村"))
    again = admin.post("/organisations/import", {"step": "confirm", "content": GOOD})
    assert again.status_code == 422 and "已经登记过" in text(again) and events(engine) == before + 2
    assert admin.post("/organisations/import", {"step": "confirm", "content": GOOD},
                      csrf=False).status_code == 400


def test_a_user_is_created_with_a_login_and_the_code_is_shown_once(engine, cast, desk):
    admin = desk["liubz"]
    before = events(engine)
    bad = admin.post("/users", {"name": "", "role": "village", "organisation": "没有这个村", "login": "x"})
    assert bad.status_code == 422 and events(engine) == before
    body = text(bad)
    assert error_beside(body, "name") == "请填写姓名"
    assert error_beside(body, "organisation") == "没有找到这个党组织，请写它的登记名称"
    made = admin.post("/users", {"name": "陈支书", "role": "village", "organisation": "大柘镇黄岩村党支部",
                                 "login": "chenzs"})
    assert made.status_code == 200
    code = re.search(r'class="secret">([A-Z0-9-]+)<', text(made)).group(1)
    assert "只显示这一次" in text(made)
    assert code not in text(admin.get("/users?login=chenzs"))  # never shown again
    engine.activate_account("chenzs", code, "黄岩村2025春天")
    taken = admin.post("/users", {"name": "另一个", "role": "village", "organisation": "大柘镇黄岩村党支部",
                                  "login": "ChenZS"})
    assert error_beside(text(taken), "login") == "这个登录名已被使用，请换一个"

    found = text(admin.get("/users?login=chenzs"))
    assert "陈支书" in found and "大柘镇黄岩村党支部" in found and "正常" in found
    user_id = engine.user_by_login("chenzs").id
    before = events(engine)
    refused = admin.post(f"/users/{user_id}/deactivate", {"login": "chenzs", "reason": ""})
    assert refused.status_code == 422 and events(engine) == before
    assert error_beside(text(refused), "reason") == "请填写原因"
    reset = admin.post(f"/users/{user_id}/reset", {"login": "chenzs", "reason": "忘记密码"})
    assert reset.status_code == 200 and re.search(r'class="secret">[A-Z0-9-]+<', text(reset))
    done = admin.post(f"/users/{user_id}/deactivate", {"login": "chenzs", "reason": "人员调动"})
    assert done.status_code == 200 and "已停用" in text(done)
    assert engine.load(User, user_id).state == "deactivated"
    # Another county's admin finds no such account, and cannot act on it.
    assert "陈支书" not in text(desk["waixian"].get("/users?login=chenzs"))
    assert desk["waixian"].post(f"/users/{user_id}/reset", {"login": "chenzs", "reason": "x"}).status_code == 403


def test_the_rule_set_is_published_and_a_bad_value_stands_beside_its_field(engine, cast, desk):
    admin = desk["liubz"]
    page = text(admin.get("/rules"))
    assert "当前执行默认规则" in page and "版本 0" not in page
    assert "联而不动：无有效活动的天数" in page and 'value="90"' in page
    form = {key: value for key, value in re.findall(r'name="([a-z0-9_.]+)" type="text" value="([^"]*)"', page)}
    assert form["r2_inactive_days"] == "90"
    before = events(engine)
    bad = admin.post("/rules", {**form, "r2_inactive_days": "九十", "weights.teamwork": "20"})
    assert bad.status_code == 422 and events(engine) == before
    assert error_beside(text(bad), "r2_inactive_days") == "请填写整数"
    bad = admin.post("/rules", {**form, "weights.teamwork": "20"})
    assert error_beside(text(bad), "weights.mechanism") == "各项权重合计必须为 100 分，现在是 105 分"
    assert events(engine) == before
    done = admin.post("/rules", {**form, "r2_inactive_days": "60", "note": "按通知调整"})
    assert done.status_code == 302
    assert engine.current_rules().version == 1 and engine.current_rules()["r2_inactive_days"] == 60
    assert "当前执行规则集第 1 版" in text(admin.get(done.headers["Location"]))
    assert desk["waixian"].get("/rules").status_code == 200  # any admin reads the rules


def workbook(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload_file(browser, data: bytes, name: str, step: str = "preview",
                page: str = "/organisations/import"):
    form = {"csrf_token": browser.token("/me"), "step": step, "file": (io.BytesIO(data), name)}
    return browser.client.post(page, data=form, base_url=browser.base_url,
                               content_type="multipart/form-data")


def test_an_xlsx_workbook_is_previewed_and_imported_and_a_bad_one_is_said_beside_the_file(engine, cast, desk):
    admin = desk["liubz"]
    before = events(engine)
    good = workbook([["组织代码", "名称", "类型", "区划代码"],
                     ["V7", "大柘镇东村党支部", "村", f"{COUNTY}101207"],
                     ["G7", "县卫健局机关党委", "机关", f"{COUNTY}000000"]])
    preview = upload_file(admin, good, "组织.xlsx")
    assert preview.status_code == 200 and events(engine) == before
    body = text(preview)
    assert "共 2 行，全部检查通过" in body and "大柘镇东村党支部" in body
    carried = re.search(r'name="workbook" value="([^"]+)"', body).group(1)
    done = admin.post("/organisations/import", {"step": "confirm", "workbook": carried})
    assert done.status_code == 302 and events(engine) == before + 2
    assert "县卫健局机关党委" in text(admin.get("/organisations?q=卫健局"))
    # Not a workbook, a column missing, a bad row: nothing written, the words beside the file.
    for data, name, words in (
            (b"PK\x03\x04 not really a zip", "组织.xlsx", "不是 Excel 工作簿"),
            (b"\x89PNG\r\n\x1a\n\x00\xff", "照片.xlsx", "不是 Excel 工作簿"),
            (workbook([["组织代码", "名称", "类型"], ["V6", "某村党支部", "村"]]), "少一列.xlsx",
             "缺少列：region_code")):
        refused = upload_file(admin, data, name)
        assert refused.status_code == 422 and events(engine) == before + 2, name
        assert words in error_beside(text(refused), "file"), name
        assert 'name="workbook"' not in text(refused)
    bad_row = workbook([["code", "name", "kind", "region_code"], ["V5", "某村党支部", "farm", "12345"]])
    refused = upload_file(admin, bad_row, "组织.xlsx")
    assert refused.status_code == 422 and "第 2 行：" in text(refused) and events(engine) == before + 2


def test_the_region_s_users_are_listed_with_login_role_organisation_state_and_last_change(engine, cast, desk,
                                                                                        clock):
    admin = desk["liubz"]
    outcome, _ = engine.register_user(cast.admin, "周文书", "village", cast.village2, login="zhouws")
    clock.advance(days=2)
    engine.deactivate_user(cast.admin, outcome.id, "人员调动")
    body = text(admin.get("/users"))
    assert "本地区的用户" in body
    row = re.search(r'<li class="item">((?:(?!</li>).)*周文书.*?)</li>', body, re.S).group(1)
    assert "登录名 zhouws" in row and "村（社区）" in row and "大柘镇黄岩村党支部" in row
    assert "已停用" in row and "最近变更：2025年3月3日 09:00" in row  # local time
    assert "重置密码或停用" not in row  # a deactivated account has nothing left to do
    active = re.search(r'<li class="item">((?:(?!</li>).)*组织部刘.*?)</li>', body, re.S).group(1)
    assert "登录名 liubz" in active and 'href="/users?login=liubz"' in active and "正常" in active
    # another county's admin lists none of this county's accounts
    assert "周文书" not in text(desk["waixian"].get("/users"))
    assert admin.get("/users?after=nonsense").status_code == 200


# -- division names (区划名称) -------------------------------------------------------------------

REGIONS = ("区划代码,名称\n"
           f"{COUNTY},遂昌县\n"
           f"{COUNTY}101000,城关镇\n"
           f"{COUNTY}102,青石乡\n")


def test_division_names_are_previewed_imported_once_and_name_the_supervisors_townships(
        engine, cast, desk, web):  # noqa: F811
    admin = desk["liubz"]
    outcome, _ = engine.register_user(cast.admin, "周部长", "supervisor", None, COUNTY, login="zhoubz")
    engine.activate_account("zhoubz", outcome.details["activation_code"], "石练村2025春")
    supervisor = Person(web)
    assert supervisor.sign_in("zhoubz").status_code == 302
    before = events(engine)
    # Bad rows: each said by its line in Chinese, nothing written.
    bad = upload_file(admin, ("区划代码,名称\n"
                              f"{COUNTY}1,城关镇\n"
                              f"{COUNTY}102,Qingshi\n"
                              "330100,杭州市辖区\n"
                              f"{COUNTY}102000,青石乡\n"
                              f"{COUNTY}102,青石乡\n").encode(), "区划.csv", page="/regions")
    assert bad.status_code == 422 and events(engine) == before
    body = text(bad)
    assert "没有导入任何一行" in body
    assert "第 2 行：区划代码应为 2、4、6、9 或 12 位数字" in body
    assert "第 3 行：名称应使用汉字" in body
    assert "第 4 行：不在你管理的地区内" in body
    assert "第 6 行：区划代码与第 5 行重复" in body
    # A file that is no table of division names: the words beside the file field.
    for data, name, words in ((b"PK\x03\x04 broken", "区划.xlsx", "不是 Excel 工作簿"),
                              ("代码,名字\n1,2\n".encode(), "区划.csv", "缺少列")):
        refused = upload_file(admin, data, name, page="/regions")
        assert refused.status_code == 422 and events(engine) == before
        assert words in error_beside(text(refused), "file")
    # Before: the township is described by its villages.
    assert re.search(r'<option value="331123101"[^>]*>大柘镇</option>', text(supervisor.get("/board")))
    # A good workbook: previewed (nothing written), then every row recorded.
    good = workbook([row.split(",") for row in REGIONS.strip().splitlines()])
    preview = upload_file(admin, good, "区划.xlsx", page="/regions")
    assert preview.status_code == 200 and events(engine) == before
    body = text(preview)
    assert "共 3 行，全部检查通过" in body and "城关镇" in body and "乡镇（街道）" in body and "新增" in body
    carried = re.search(r'name="workbook" value="([^"]+)"', body).group(1)
    assert admin.post("/regions", {"step": "confirm", "workbook": carried},
                      csrf=False).status_code == 400
    done = admin.post("/regions", {"step": "confirm", "workbook": carried})
    assert done.status_code == 302 and events(engine) == before + 3
    assert "已登记 3 个区划名称" in text(admin.get(done.headers["Location"]))
    # The same list again records nothing.
    again = admin.post("/regions", {"step": "confirm", "workbook": carried})
    assert again.status_code == 302 and events(engine) == before + 3
    assert "没有变化" in text(admin.get(again.headers["Location"]))
    # The supervisor chooses the township by its recorded name; coverage names it too.
    board = text(supervisor.get("/board"))
    assert re.search(r'<option value="331123101"[^>]*>城关镇</option>', board)
    assert "遂昌县（全部）" in board
    assert "城关镇" in text(supervisor.get("/coverage"))
    assert "城关镇" in text(admin.get("/organisations"))  # each organisation's township
    assert "城关镇" in text(admin.get("/regions"))
    # Another county's admin may not name this county's townships.
    other = upload_file(desk["waixian"], REGIONS.encode(), "区划.csv", page="/regions")
    assert other.status_code == 422 and "不在你管理的地区内" in text(other)


def test_the_agency_role_reads_as_the_pages_call_it_结对单位(engine, cast, desk, web):  # noqa: F811
    """One word for the giving side's accounts on every page (the seeds' 结对单位), from the
    one catalogue: the role list, the organisation field, a user's row, 我的 page."""
    admin = desk["liubz"]
    person(engine, cast, "王书记", "agency", cast.giver, "wangsj")
    page = text(admin.get("/users"))
    assert re.search(r'<option value="agency"[^>]*>结对单位</option>', page)
    assert "结对单位、村（社区）的账号填写，写党组织的登记名称" in page
    row = re.search(r'<li class="item">((?:(?!</li>).)*王书记.*?)</li>', page, re.S).group(1)
    assert "结对单位 · 县财政局机关党委" in row
    agency = Person(web)
    assert agency.sign_in("wangsj").status_code == 302
    assert "结对单位" in text(agency.get("/me"))
    for body in (page, text(agency.get("/me")), text(agency.get("/pairings"))):
        assert "给予方" not in body


def test_an_account_without_a_login_gets_one_or_is_deactivated_from_the_list(engine, cast, desk):
    """An account registered without a login (by the API, before logins) cannot sign in: its
    row leads to 设置登录名 (the activation code shown once) or 停用, as a login's row leads
    to 重置密码或停用; a login given but not yet used reads 尚未激活."""
    admin = desk["liubz"]
    old, _ = engine.register_user(cast.admin, "老文书", "village", cast.village2)
    spare, _ = engine.register_user(cast.admin, "备用账号", "village", cast.village2)
    body = text(admin.get("/users"))
    row = re.search(r'<li class="item">((?:(?!</li>).)*老文书.*?)</li>', body, re.S).group(1)
    assert "还没有登录名" in row and f'href="/users?user={old.id}"' in row and "设置登录名或停用" in row
    card = text(admin.get(f"/users?user={old.id}"))
    assert "老文书" in card and "<dt>登录名</dt><dd>还没有</dd>" in card and "设置登录名并生成激活码" in card

    before = events(engine)
    for typed, words in (("", "请填写本账号的登录名"), ("老文书", "登录名应为 3 到 40 位"), ("LiuBZ", "已被使用")):
        bad = admin.post(f"/users/{old.id}/login", {"new_login": typed})
        assert bad.status_code == 422 and words in error_beside(text(bad), "new_login")
    assert events(engine) == before  # nothing written on bad input
    assert desk["waixian"].post(f"/users/{old.id}/login", {"new_login": "laows"}).status_code == 403
    assert "老文书" not in text(desk["waixian"].get(f"/users?user={old.id}"))

    given = admin.post(f"/users/{old.id}/login", {"new_login": "LaoWS"})
    assert given.status_code == 200 and "已为 老文书 设置登录名" in text(given)
    code = re.search(r'class="secret">([A-Z0-9-]+)<', text(given)).group(1)
    row = re.search(r'<li class="item">((?:(?!</li>).)*老文书.*?)</li>', text(admin.get("/users")), re.S).group(1)
    assert "登录名 laows，尚未激活" in row and 'href="/users?login=laows"' in row
    engine.activate_account("laows", code, "黄岩村2025春天")
    assert "尚未激活" not in text(admin.get("/users?login=laows"))
    again = admin.post(f"/users/{old.id}/login", {"new_login": "laows2"})
    assert again.status_code == 422 and "已经有登录名" in text(again)

    refused = admin.post(f"/users/{spare.id}/deactivate", {"reason": ""})
    assert refused.status_code == 422 and error_beside(text(refused), "reason") == "请填写原因"
    done = admin.post(f"/users/{spare.id}/deactivate", {"reason": "账号不再使用"})
    assert done.status_code == 200 and engine.load(User, spare.id).state == "deactivated"
    row = re.search(r'<li class="item">((?:(?!</li>).)*备用账号.*?)</li>', text(admin.get("/users")), re.S).group(1)
    assert "已停用" in row and "设置登录名" not in row
