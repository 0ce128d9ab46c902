"""The admin's pages (组织部): organisations (search, import a CSV with a preview, then every
row or none), users (create with a login and see the one-time activation code once, find by
login, deactivate or reset with a reason), and the rule set (current values with their
Chinese names and version; publish a new version, a bad value's error beside its field).

The import's checks are the engine's (``check_import``, the same the CLI's import runs before
it writes); the rule set's checks are the domain's (``domain.ruleset.merged_values``).
"""
from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from uuid import UUID

from flask import abort, g, redirect, render_template, request, url_for

from api.web.blueprint import blueprint
from api.web.auth import engine, signed_in
from api.web.forms import Form
from api.web.supervise import townships
from api.web.views import caught_up_db, org_name
from domain import labels
from domain.errors import DomainError, InvalidValue
from domain.organisation import GIVING_KINDS, RECEIVING_KINDS
from domain.region import MAX_NAME
from domain.ruleset import CHECKS
from domain.user import User
from projections.reports import (
    ReportError, accounts, child_regions, find_organisations, names_or_above,
)
from workflows.authorisation import in_region
from workflows.errors import Forbidden, NotFound, StaleVersion
from workflows.onboarding import XLSX_MAGIC
from workflows.organisations import ImportRejected

IMPORT_LIMIT = 2 * 1024 * 1024  # bytes: a county's list of organisations is far smaller
ORG_ROLES = ("agency", "village")


def admin() -> Any:
    actor = g.actor
    if actor.role != "admin":
        abort(403)
    return actor


# -- organisations -----------------------------------------------------------------------------

@blueprint.route("/organisations")
@signed_in
def organisations() -> Any:
    actor = admin()
    q = (request.args.get("q") or "").strip()[:100]
    found = find_organisations(caught_up_db(), q or None, region=actor.region_code or None,
                               limit=200)
    items = sorted(found["items"], key=lambda o: o["name"])
    for o in items:
        o["kind_label"] = labels.label(labels.ORGANISATION_KINDS, o["kind"])
    return render_template("admin/organisations.html", tab="organisations", items=items, q=q,
                           more=found.get("next_cursor") is not None)


def import_words(message: str) -> str:
    """The engine's reason for refusing a row, in Chinese."""
    if "12-digit" in message:
        return "区划代码应为 12 位统计用区划代码"
    if "letters, digits" in message:
        return "组织代码只能用字母、数字和 . _ -，最多 64 位"
    if message.startswith("must be one of"):
        return "类型应为：" + "、".join(f"{code}（{words}）" for code, words in
                                     labels.ORGANISATION_KINDS.items())
    if "outside your region" in message:
        return "不在你管理的地区内"
    repeats = re.search(r"repeats line (\d+)", message)
    if repeats:
        return f"组织代码与第 {repeats.group(1)} 行重复"
    if "already registered" in message:
        return "这个组织代码已经登记过"
    if "must not be blank" in message:
        return "名称等必填项不能为空"
    if "at most" in message:
        return "内容太长"
    missing = re.search(r"missing column\(s\): (.*)", message)
    if missing:
        return (f"缺少列：{missing.group(1)}"
                "（第一行应为列名 code,name,kind,region_code 或 组织代码、名称、类型、区划代码）")
    if "no rows" in message:
        return "文件里没有数据行"
    if "XLSX file cannot be read" in message:
        return NOT_A_WORKBOOK
    if "neither XLSX nor UTF-8" in message:
        return "文件既不是 Excel 工作簿（.xlsx），也不是 UTF-8 编码的 CSV：请在 Excel/WPS 里另存为其中一种"
    if "the file is empty" in message:
        return "文件是空的"
    return "这一行有误，请检查"


def _uploaded() -> tuple[bytes | str | None, str | None]:
    """The file's content, from the file chosen (preview) or the copy the preview carries
    (确认导入): an XLSX workbook as its bytes, a CSV as its text (``workflows.onboarding``
    reads either)."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        data = upload.read(IMPORT_LIMIT + 1)
        if len(data) > IMPORT_LIMIT:
            return None, TOO_BIG
        if data.startswith(XLSX_MAGIC):
            return data, None
        if upload.filename.lower().endswith((".xlsx", ".xlsm")):
            return None, NOT_A_WORKBOOK
        try:
            return data.decode("utf-8-sig"), None
        except UnicodeDecodeError:
            return None, "文件不是 UTF-8 编码：请在 Excel/WPS 里「另存为」CSV UTF-8 格式，或直接选择 .xlsx 工作簿"
    workbook = request.form.get("workbook") or ""
    if workbook:
        try:
            data = base64.b64decode(workbook, validate=True)
        except (binascii.Error, ValueError):
            return None, NOT_A_WORKBOOK
        return (data, None) if len(data) <= IMPORT_LIMIT else (None, TOO_BIG)
    text = request.form.get("content") or ""
    if not text.strip():
        return None, "请选择要导入的文件"
    if len(text.encode()) > IMPORT_LIMIT:
        return None, TOO_BIG
    return text, None


TOO_BIG = "文件太大（最多 2 MB），请分成几个文件导入"
NOT_A_WORKBOOK = "这个文件不是 Excel 工作簿（.xlsx），打不开。请在 Excel/WPS 里重新「另存为」.xlsx 后再导入"


def _upload_for(context: dict[str, Any]) -> bytes | str | None:
    """The uploaded table (its copy kept in ``context`` for 确认导入), or None with the
    reason beside the file field."""
    data, problem = _uploaded()
    if data is None:
        context["errors"] = {"file": problem}
    elif isinstance(data, bytes):
        context["workbook"] = base64.b64encode(data).decode("ascii")
    else:
        context["content"] = data
    return data


def _rejected(context: dict[str, Any], rejected: ImportRejected, words: Any) -> None:
    """The rows an import refused, each by its line; line 1 is the header: an error there
    is the file's (unreadable, a column missing) and is said beside the file field."""
    whole = [e for e in rejected.errors if e.line <= 1]
    if whole:
        context["errors"] = {"file": words(whole[0].message)}
        context["content"] = context["workbook"] = ""
    context["row_errors"] = [{"line": e.line, "words": words(e.message)}
                             for e in rejected.errors if e.line > 1]


def _import_context(tab: str, **more: Any) -> dict[str, Any]:
    return {"tab": tab, "rows": [], "errors": {}, "row_errors": [], "content": "",
            "workbook": "", **more}


@blueprint.route("/organisations/import", methods=["GET", "POST"])
@signed_in
def import_organisations() -> Any:
    """导入组织: 预览 (every row parsed and checked by the engine, nothing written), then
    确认导入 (every row or none).  A CSV or an XLSX workbook; a file that cannot be read as
    a table (not a workbook, a column missing) is said beside the file field."""
    actor = admin()
    context = _import_context("organisations", kinds=labels.ORGANISATION_KINDS)
    if request.method == "GET":
        return render_template("admin/import.html", **context)
    data = _upload_for(context)
    if data is None:
        return render_template("admin/import.html", **context), 422
    try:
        if request.form.get("step") == "confirm":
            outcomes = engine().import_organisations(actor, data)
            return redirect(url_for("web.organisations", done=len(outcomes)))
        checked = engine().check_import(actor, data)
    except ImportRejected as rejected:
        _rejected(context, rejected, import_words)
        return render_template("admin/import.html", **context), 422
    context["rows"] = [{"code": o.code, "name": o.name,
                        "kind": labels.label(labels.ORGANISATION_KINDS, o.kind),
                        "region": o.region_code} for o in checked]
    return render_template("admin/import.html", **context)


# -- divisions (区划名称) ------------------------------------------------------------------------

def region_import_words(message: str) -> str:
    """The engine's reason for refusing a row of division names, in Chinese."""
    if "division code of" in message:
        return "区划代码应为 2、4、6、9 或 12 位数字（统计用区划代码）"
    if "Chinese characters" in message:
        return "名称应使用汉字，如「城关镇」"
    if "one line" in message:
        return "名称只能写一行"
    if "must not be blank" in message:
        return "名称不能为空"
    if "at most" in message:
        return f"名称太长（最多 {MAX_NAME} 个字）"
    repeats = re.search(r"repeats line (\d+)", message)
    if repeats:
        return f"区划代码与第 {repeats.group(1)} 行重复"
    if re.search(r"missing column\(s\)", message):
        return "缺少列：第一行应为列名「区划代码、名称」（或 region_code,name）"
    return import_words(message)


@blueprint.route("/regions", methods=["GET", "POST"])
@signed_in
def regions() -> Any:
    """区划名称: the named counties and townships of the admin's region, and the import of a
    list of division names (区划代码, 名称): 预览, then 确认导入 (every row or none; a row
    naming a division as it is already named changes nothing)."""
    actor = admin()
    context = _import_context("organisations", max_name=MAX_NAME,
                              done=request.args.get("done"))
    status = 200
    if request.method == "POST":
        data = _upload_for(context)
        try:
            if data is None:
                status = 422
            elif request.form.get("step") == "confirm":
                changes = engine().import_regions(actor, data)
                recorded = sum(1 for c in changes if c.change != "same")
                return redirect(url_for("web.regions", done=recorded))
            else:
                context["rows"] = [
                    {"code": c.region.code, "name": c.region.name, "was": c.was,
                     "level": labels.label(labels.REGION_LEVELS, c.region.level),
                     "change": labels.label(labels.REGION_CHANGES, c.change)}
                    for c in engine().check_region_import(actor, data)]
        except ImportRejected as rejected:
            _rejected(context, rejected, region_import_words)
            status = 422
    own = actor.region_code or None
    context["named"] = [
        *child_regions(caught_up_db(), own, "county"), *child_regions(caught_up_db(), own, "township")]
    return render_template("admin/regions.html", **context), status


# -- users ---------------------------------------------------------------------------------------

def _region_choices(actor: Any) -> dict[str, str]:
    own = actor.region_code or ""
    choices = {own: "本级（全部地区）"}
    for t in townships(own):
        choices[t["code"]] = t["name"]
    return choices


LOGIN_RULE = "登录名应为 3 到 40 位字母、数字或 . _ -，以字母或数字开头"
LOGIN_TAKEN = "这个登录名已被使用，请换一个"


@blueprint.route("/users", methods=["GET", "POST"])
@signed_in
def users() -> Any:
    """用户: create an account with a login (its activation code shown once), or find one by
    login to deactivate or reset it."""
    actor = admin()
    regions = _region_choices(actor)
    context: dict[str, Any] = {"tab": "users", "roles": labels.ROLES, "regions": regions,
                               "errors": {}, "form": {}, "refusal": None, "created": None,
                               "found": None}
    login = (request.args.get("login") or "").strip()[:100]
    if request.method == "GET":
        if login:
            context["found"] = _user_card(login)
            context["looked_for"] = login
        elif request.args.get("user"):  # the list's link to an account without a login
            context["found"] = _card_of_id(request.args["user"])
            context["looked_for"] = ""
        else:
            context["listed"], context["more"] = _user_list(actor, request.args.get("after"))
        return render_template("admin/users.html", **context)
    form = Form(request.form)
    name = form.text("name", "姓名", 100)
    role = form.choice("role", "角色", labels.ROLES)
    new_login = form.text("login", "登录名", 40)
    organisation_id = region = None
    if role in ORG_ROLES:
        wanted = form.text("organisation", "所属党组织", 200)
        if wanted:
            organisation_id = _organisation_named(form, wanted, role)
    elif role is not None:
        region = form.choice("region", "管理地区", regions)
    if form.ok:
        try:
            outcome, _token = engine().register_user(actor, name, role, organisation_id, region,
                                                     login=new_login)
        except InvalidValue as invalid:
            if invalid.field == "login":
                form.fail("login", LOGIN_RULE)
            else:
                form.fail("name", "填写有误，请检查")
        except Forbidden:
            form.fail("region" if region is not None else "organisation", "不在你管理的地区内")
        except DomainError as refusal:
            if refusal.code == "duplicate":
                form.fail("login", LOGIN_TAKEN)
            else:
                context["refusal"] = "无法创建这个用户，请检查填写的内容。"
        else:
            context["created"] = {"name": name, "login": (new_login or "").lower(),
                                  "code": outcome.details["activation_code"]}
            return render_template("admin/users.html", **context)
    context.update(errors=form.errors, form=dict(request.form))
    return render_template("admin/users.html", **context), 422


def _organisation_named(form: Form, wanted: str, role: str) -> UUID | None:
    kinds = RECEIVING_KINDS if role == "village" else GIVING_KINDS
    found = [o for o in find_organisations(caught_up_db(), wanted, limit=20)["items"]
             if o["kind"] in kinds]
    exact = [o for o in found if o["name"] == wanted]
    if len(exact) == 1 or len(found) == 1:
        return UUID((exact or found)[0]["id"])
    if not found:
        form.fail("organisation", "没有找到这个党组织，请写它的登记名称")
    else:
        form.fail("organisation", f"找到 {len(found)} 个名称相近的党组织，请写完整名称")
    return None


USERS_PAGE = 30


def _user_list(actor: Any, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The accounts of the admin's region a page at a time (the accounts report), each with
    its login and when it last changed (the account's own record: a page's worth of reads)."""
    try:
        found = accounts(caught_up_db(), region=actor.region_code, cursor=cursor, limit=USERS_PAGE)
    except ReportError:  # a cursor typed by hand
        found = accounts(caught_up_db(), region=actor.region_code, limit=USERS_PAGE)
    # A regional account's region by its recorded name (or the nearest named one above it).
    regions = names_or_above(caught_up_db(), [i["region_code"] for i in found["items"]
                                              if not i["organisation_name"]])
    rows = []
    for item in found["items"]:
        user = engine().load(User, UUID(item["id"]))
        rows.append({"id": user.id, "name": item["name"], "login": user.login or "",
                     "activated": user.activated,
                     "role": labels.label(labels.ROLES, item["role"]),
                     "where": item["organisation_name"] or regions.get(item["region_code"])
                     or item["region_code"] or "全国",
                     "state": item["state"], "state_label": labels.label(labels.USER_STATES, item["state"]),
                     "changed": user.modified_on})
    after = found["next_cursor"]
    return rows, url_for("web.users", after=after) if after else None


def _user_card(login: str) -> dict[str, Any] | None:
    try:
        user = engine().user_by_login(login)
    except (NotFound, InvalidValue):
        return None
    return _card(user)


def _card_of_id(user_id: str) -> dict[str, Any] | None:
    """An account found by the id in the list's link (one registered without a login)."""
    try:
        return _card(engine().load(User, UUID(user_id)))
    except (NotFound, ValueError):
        return None


def _card(user: User) -> dict[str, Any] | None:
    # An admin finds only the accounts it manages (of its region).
    where = (engine().organisation_facts(user.organisation_id).region_code
             if user.organisation_id else user.region_code or "")
    if not in_region(g.actor, where):
        return None
    return {"id": user.id, "name": user.name, "login": user.login or "",
            "activated": user.activated, "role": labels.label(labels.ROLES, user.role),
            "where": org_name(user.organisation_id) if user.organisation_id else
            names_or_above(caught_up_db(), [where]).get(where) or where or "全国",
            "state": user.state, "state_label": labels.label(labels.USER_STATES, user.state)}


@blueprint.route("/users/<uuid:user_id>/<act>", methods=["POST"])
@signed_in
def user_act(user_id: UUID, act: str) -> Any:
    """停用 (deactivate), 重置密码 (reset: a new activation code, shown once), or 设置登录名
    (login: an account registered without one gets it and its activation code, shown once)."""
    actor = admin()
    if act not in ("deactivate", "reset", "login"):
        abort(404)
    user = engine().load(User, user_id)
    login = request.form.get("login", "")
    form = Form(request.form)
    if act == "login":
        new_login = form.text("new_login", "本账号的登录名", 40)
    else:
        reason = form.text("reason", "原因", 2000)
    context: dict[str, Any] = {"tab": "users", "roles": labels.ROLES,
                               "regions": _region_choices(actor), "errors": {}, "form": {},
                               "refusal": None, "created": None, "looked_for": login}
    if form.ok:
        try:
            if act == "deactivate":
                engine().deactivate_user(actor, user_id, reason)
            elif act == "reset":
                _, code = engine().reset_password(actor, user_id, reason)
                context["created"] = {"name": user.name, "login": login, "code": code, "reset": True}
            elif user.login is not None:
                context["refusal"] = "这个账号已经有登录名了，请按登录名查找后重置密码。"
            else:
                _, code = engine().give_login(actor, user_id, new_login)
                context["created"] = {"name": user.name, "login": (new_login or "").strip().lower(),
                                      "code": code, "given": True}
        except InvalidValue:
            form.fail("new_login" if act == "login" else "reason",
                      LOGIN_RULE if act == "login" else "请填写原因")
        except (Forbidden, NotFound):
            raise  # the 403 and 404 pages
        except DomainError as refusal:
            if act == "login" and refusal.code == "duplicate":
                form.fail("new_login", LOGIN_TAKEN)
            else:
                context["refusal"] = "这个账号现在不能这样办理（可能已经停用）。"
        except StaleVersion:
            context["refusal"] = "这个账号现在不能这样办理（可能已经停用）。"
    context["found"] = _card(engine().load(User, user_id))
    context["errors"] = form.errors
    context["form"] = dict(request.form) if form.errors else {}
    status = 200 if form.ok and context["refusal"] is None else 422
    return render_template("admin/users.html", **context), status


# -- the rule set --------------------------------------------------------------------------------

def rule_words(invalid: InvalidValue) -> str:
    message = invalid.message
    between = re.search(r"between (\d+) and (\d+)", message)
    if between:
        return f"请填写 {between.group(1)} 到 {between.group(2)} 之间的整数"
    if "whole number" in message:
        return "请填写整数"
    if "month and day" in message:
        return "请按 10-01 的格式填写月和日"
    if "must be more than" in message:
        return "严重天数必须大于预警天数"
    total = re.search(r"add up to 100 points, not (\d+)", message)
    if total:
        return f"各项权重合计必须为 100 分，现在是 {total.group(1)} 分"
    if invalid.field == "grades":
        return "分数线必须从优秀、良好到一般依次降低"
    if invalid.field == "satisfaction":
        return "满意、基本满意、不满意的折算分不能依次升高"
    return "填写有误，请检查"


# A check that names a group of settings puts its error beside the group's first field.
GROUP_FIELD = {"weights": "weights.mechanism", "grades": "grades.excellent",
               "satisfaction": "satisfaction.satisfied"}


@blueprint.route("/rules", methods=["GET", "POST"])
@signed_in
def rules_page() -> Any:
    actor = admin()
    current = engine().current_rules()
    values = {key: current[key] for key in CHECKS}
    context: dict[str, Any] = {"tab": "rules", "names": labels.RULE_SETTINGS, "current": current,
                               "values": values, "errors": {}, "refusal": None,
                               "notice": "已发布新版本。" if request.args.get("done") else None}
    if request.method == "GET":
        return render_template("admin/rules.html", **context)
    form = Form(request.form)
    changes: dict[str, Any] = {}
    for key, old in values.items():
        raw = form.raw(key)
        if raw == "":
            form.fail(key, "请填写" + labels.RULE_SETTINGS.get(key, key).split("：")[-1])
            continue
        value: Any = raw
        if isinstance(old, int):
            value = int(raw) if re.fullmatch(r"-?\d{1,12}", raw) else raw
        if value != old:
            changes[key] = value
    note = form.text("note", "修改说明", 500, required=False)
    if form.ok and not changes:
        context["refusal"] = "没有修改任何规则。"
    if form.ok and changes:
        nested: dict[str, Any] = {}
        for key, value in changes.items():
            head, _, tail = key.partition(".")
            if tail:
                nested.setdefault(head, {})[tail] = value
            else:
                nested[head] = value
        try:
            engine().publish_rules(actor, nested, note)
        except InvalidValue as invalid:
            form.fail(GROUP_FIELD.get(invalid.field, invalid.field), rule_words(invalid))
        except (DomainError, StaleVersion):
            context["refusal"] = "刚才有人发布了新版本，请查看最新规则后再改。"
        else:
            return redirect(url_for("web.rules_page", done=1))
    context.update(values={k: request.form.get(k, "") for k in values}, errors=form.errors)
    return render_template("admin/rules.html", **context), 422

