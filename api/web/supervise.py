"""The supervisor's pages (督办): the 联而不动 board by township, follow-up cases (list, one
case with the answer, close it, open one by hand on a pairing) and coverage by township with
its chart (DESIGN §12).

Every list is a report of ``projections.reports`` (the same functions the JSON API answers
with); every act is the engine's command run with the signed-in person's Actor, so who may do
what is decided there.  Regions are chosen by name: the name the organisation department
recorded for the township (区划名称), or, for one nobody named, after its villages.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID

from flask import abort, g, redirect, render_template, request, url_for

from api.web.blueprint import blueprint
from api.web.auth import engine, signed_in
from api.web.forms import Form, attempt
from api.web.views import DONE, caught_up_db, org_name, tone, window
from domain import labels
from domain.followup import FollowUpCase
from domain.organisation import RECEIVING_KINDS
from domain.pairing import Pairing
from domain.pairing_rules import Thresholds
from projections.reports import (
    coverage_report, find_organisations, followups_report, inactive_report, names_or_above,
    region_names, townships_with_villages,
)
from workflows.authorisation import REGION_ROLES, in_region

# Township, street and town endings: where a village's name says which township it is in.
TOWNSHIP_ENDINGS = ("街道", "镇", "乡")

def rules() -> Thresholds:
    return Thresholds.from_published(engine().current_rules())


def regional() -> Any:
    """The signed-in person, if a regional role with a region (else the 403 page)."""
    actor = g.actor
    if actor.role not in REGION_ROLES or actor.region_code is None:
        abort(403)
    return actor


# What the board shows of a hit: the measure itself (the case's page shows everything).
BRIEF = ("days_without_activity", "days_since_in_force", "max_days_overdue",
         "commitments_overdue", "days_unconfirmed")


def measured_words(measured: dict[str, Any], only: tuple[str, ...] | None = None) -> list[str]:
    out = []
    for key, value in (measured or {}).items():
        if value is None or (only is not None and key not in only):
            continue
        if isinstance(value, str) and len(value) == 10 and value[4] == "-":
            value = f"{value[:4]}年{int(value[5:7])}月{int(value[8:10])}日"
        if key == "rule_set_version":
            out.append(f"依据：{labels.rule_set_words(value)}")
            continue
        out.append(f"{labels.label(labels.MEASURES, key)}：{value}")
    return out


# -- regions by name -------------------------------------------------------------------------

def township_of(name: str) -> str | None:
    """``大柘镇石练村党支部`` → ``大柘镇``: the township a village's name starts with."""
    best = None
    for ending in TOWNSHIP_ENDINGS:
        at = name.find(ending)
        if 0 < at <= 12 and (best is None or at + len(ending) < len(best)):
            best = name[:at + len(ending)]
    return best


def townships(region: str) -> list[dict[str, str]]:
    """The townships (9-digit regions) under ``region`` that have villages, sorted by name:
    each by the name the organisation department recorded (``POST /regions``, the import
    of division names), or, for one nobody named yet, after its villages."""
    db = caught_up_db()
    codes = townships_with_villages(db, region)
    names = region_names(db, codes)
    out = [{"code": code, "name": names.get(code) or named_after_villages(code)} for code in codes]
    return sorted(out, key=lambda t: t["name"])


def named_after_villages(township: str) -> str:
    """A township nobody named, by its villages: the township their names start with
    (「大柘镇」), else 「某村等 3 个村（社区）所在乡镇」."""
    names: list[str] = []
    for kind in RECEIVING_KINDS:
        names += [o["name"] for o in find_organisations(
            caught_up_db(), kind=kind, region=township, limit=VILLAGES_READ)["items"]]
    shared = {township_of(n) for n in names}
    one = shared.pop() if len(shared) == 1 else None
    if one is not None:
        return one
    if not names:
        return "未命名乡镇"
    many = "多" if len(names) >= VILLAGES_READ * len(RECEIVING_KINDS) else " "
    return f"{sorted(names)[0]}等 {len(names)}{many}个村（社区）所在乡镇"


VILLAGES_READ = 50  # a township nobody named is described by at most this many villages


def chosen_region(actor: Any) -> tuple[str, list[dict[str, str]], str]:
    """The region the page shows (``?region=`` picked from the list, or the person's own),
    the list to pick from, and the name of what is shown."""
    own = actor.region_code or ""
    choices = townships(own) if len(own) < 9 else []
    asked = request.args.get("region", "")
    names = {c["code"]: c["name"] for c in choices}
    if asked and asked != own:
        if asked not in names or not in_region(actor, asked):
            abort(404)
        return asked, choices, names[asked]
    if choices:
        county = names_or_above(caught_up_db(), [own]).get(own) if own else None
        return own, choices, f"{county}（全部）" if county else "全部乡镇（街道）"
    return own, choices, township_name(own) or "本地区"


def township_name(region: str) -> str | None:
    """The name of the township ``region`` is in (or is), recorded or after its villages."""
    if len(region) < 9:
        return None
    township = region[:9]
    named = region_names(caught_up_db(), [township]).get(township)
    if named is not None:
        return named
    return named_after_villages(township) if township in townships_with_villages(
        caught_up_db(), township) else None


def township_names(codes: list[str], choices: list[dict[str, str]]) -> dict[str, str]:
    """Names for township codes (the coverage rows'): from the list to choose from, else
    recorded, else after their villages."""
    names = {c["code"]: c["name"] for c in choices}
    recorded = region_names(caught_up_db(), [c for c in codes if c not in names])
    return {code: names.get(code) or recorded.get(code) or township_name(code) or "其他地区"
            for code in codes}


# -- 联而不动 board ---------------------------------------------------------------------------

@blueprint.route("/board")
@signed_in
def board() -> Any:
    """联而不动: pairings in the region with a rule hit that asks for follow-up."""
    actor = regional()
    region, choices, shown = chosen_region(actor)
    today = engine().today()
    found = inactive_report(caught_up_db(), window(), rules(), region=region, limit=200)
    items = []
    for item in found["items"]:
        since = item.get("last_activity_on") or item.get("in_force_on")
        hits = [{**hit, "words": measured_words(hit["measured"], BRIEF)} for hit in item["rule_hits"]
                if hit["severity"] != "info"]
        worst = "red" if any(h["severity"] == "red" for h in hits) else "warning"
        items.append({**item, "hits": hits, "worst": worst,
                      "worst_label": labels.label(labels.SEVERITIES, worst),
                      "idle_days": (today - date.fromisoformat(since)).days if since else None})
    items.sort(key=lambda i: (i["receiver_name"], i["giver_name"]))
    return render_template("supervise/board.html", tab="board", items=items, region=region,
                           choices=choices, shown=shown, today=today, tone=tone,
                           more=found.get("next_cursor") is not None,
                           version=found["rule_set_version"])


# -- follow-up cases (督办) --------------------------------------------------------------------

@blueprint.route("/followups")
@signed_in
def followups() -> Any:
    actor = regional()
    region, choices, shown = chosen_region(actor)
    found = followups_report(caught_up_db(), window(), region=region, limit=500)
    items = sorted(found["items"], key=lambda i: (i["responsible_name"], i["opened_on"]))
    return render_template("supervise/followups.html", tab="followups", items=items,
                           region=region, choices=choices, shown=shown, totals=found["totals"],
                           today=engine().today(), more=found.get("next_cursor") is not None)


def _case(case_id: UUID) -> FollowUpCase:
    return engine().read(g.actor, FollowUpCase, case_id)


def subject_of(case: FollowUpCase) -> dict[str, Any]:
    """What the case is about, in words and with a link where a page shows it."""
    kind = labels.label(labels.SUBJECT_TYPES, case.subject_type)
    if case.subject_type == "pairing":
        try:
            p = engine().load(Pairing, case.subject_id)
        except Exception:
            return {"words": kind, "link": None}
        return {"words": f"结对：{org_name(p.giver_id)} — {org_name(p.receiver_id)}",
                "link": url_for("web.pairing", pairing_id=case.subject_id)}
    if case.subject_type == "task":
        return {"words": kind, "link": url_for("web.need", task_id=case.subject_id)}
    return {"words": kind, "link": url_for("web.commitment", commitment_id=case.subject_id)}


@blueprint.route("/followups/<uuid:case_id>")
@signed_in
def followup(case_id: UUID) -> Any:
    """One case: what it is about, what was measured, the answers; 答复 for the responsible
    organisation, 结案 for a supervisor."""
    return _followup_page(_case(case_id))


def _followup_page(case: FollowUpCase, status: int = 200, errors: dict[str, str] | None = None,
                   refusal: str | None = None, form: dict[str, str] | None = None) -> Any:
    actor = g.actor
    return render_template(
        "supervise/followup.html", tab="followups", case=case, tone=tone,
        subject=subject_of(case), responsible=org_name(case.responsible_id),
        rule_label=labels.label(labels.FOLLOWUP_REASONS, case.rule),
        state_label=labels.label(labels.FOLLOWUP_STATES, case.state),
        severity_label=labels.label(labels.SEVERITIES, case.severity),
        resolution_label=labels.label(labels.FOLLOWUP_RESOLUTIONS, case.resolution),
        measured=measured_words(case.measured), resolutions=labels.FOLLOWUP_RESOLUTIONS,
        may_close=actor.role in ("supervisor", "admin") and case.state != "closed",
        may_answer=actor.organisation_id == case.responsible_id and case.state != "closed",
        notice=DONE.get(request.args.get("done", "")),
        errors=errors or {}, refusal=refusal, form=form or {}), status


@blueprint.route("/followups/<uuid:case_id>/close", methods=["POST"])
@signed_in
def close_followup(case_id: UUID) -> Any:
    """结案: 已解决, 已上报 or 不予督办, with the reason."""
    case = _case(case_id)
    form = Form(request.form)
    resolution = form.choice("resolution", "处理结果", labels.FOLLOWUP_RESOLUTIONS)
    reason = form.text("reason", "结案理由", 2000)
    done, refusal = attempt(form, {"resolution": "resolution", "reason": "reason"},
                            lambda: engine().close_followup(g.actor, case_id, resolution, reason,
                                                            expected_version=case.version))
    if done is None:
        return _followup_page(_case(case_id), 422 if form.errors else 409, form.errors, refusal,
                              dict(request.form))
    return redirect(url_for("web.followup", case_id=case_id, done="case-closed"))


@blueprint.route("/followups/<uuid:case_id>/answer", methods=["POST"])
@signed_in
def answer_followup(case_id: UUID) -> Any:
    """答复督办: the responsible organisation says what it did or will do."""
    case = _case(case_id)
    form = Form(request.form)
    words = form.text("text", "答复内容", 4000)
    done, refusal = attempt(form, {"text": "text"}, lambda: engine().respond_followup(
        g.actor, case_id, words, expected_version=case.version))
    if done is None:
        return _followup_page(_case(case_id), 422 if form.errors else 409, form.errors, refusal,
                              dict(request.form))
    return redirect(url_for("web.followup", case_id=case_id, done="case-answered"))


@blueprint.route("/pairings/<uuid:pairing_id>/followups/new", methods=["GET", "POST"])
@signed_in
def open_followup(pairing_id: UUID) -> Any:
    """督办立案 by hand on a pairing: which side answers, and what needs following up."""
    actor = g.actor
    if actor.role not in ("supervisor", "admin"):
        abort(403)
    p = engine().read(actor, Pairing, pairing_id)
    sides = {"giver": org_name(p.giver_id), "receiver": org_name(p.receiver_id)}
    context = {"p": p, "sides": sides, "tab": "board"}
    if request.method == "GET":
        return render_template("supervise/followup_new.html", form={}, errors={}, refusal=None,
                               **context)
    form = Form(request.form)
    side = form.choice("responsible", "责任单位", sides)
    note = form.text("note", "督办事项", 2000)
    responsible = {"giver": p.giver_id, "receiver": p.receiver_id}.get(side or "")
    done, refusal = attempt(form, {"note": "note", "responsible_id": "responsible"},
                            lambda: engine().open_followup(actor, "pairing", pairing_id,
                                                           responsible, note))
    if done is None:
        return render_template("supervise/followup_new.html", form=dict(request.form),
                               errors=form.errors, refusal=refusal,
                               **context), 422 if form.errors else 409
    return redirect(url_for("web.followup", case_id=done.id, done="case-opened"))


# -- coverage ----------------------------------------------------------------------------------

@blueprint.route("/coverage")
@signed_in
def coverage() -> Any:
    """覆盖: per township, villages, weak villages and those with a pairing in force; the
    weak villages without one, by name; a chart of the same numbers."""
    actor = regional()
    region, choices, shown = chosen_region(actor)
    found = coverage_report(caught_up_db(), window(), rules(), region=region)
    names = township_names([r["region_code"][:9] for r in found["items"] if r["region_code"][6:9] != "000"],
                           choices)
    rows = []
    for row in found["items"]:
        code = row["region_code"]
        # A division code's township part 000 is the county itself: its own agencies.
        name = "县直单位" if len(code) >= 9 and code[6:9] == "000" else names.get(code[:9], "其他地区")
        rows.append({**row, "name": name})
    rows.sort(key=lambda r: r["name"])
    weak = sorted(found["weak_without_pairing"], key=lambda o: o["name"])
    rows_with_villages = [r for r in rows if r["villages"]]
    chart = {"names": [r["name"] for r in rows_with_villages],
             "paired": [r["weak_villages_paired"] for r in rows_with_villages],
             "unpaired": [r["weak_villages"] - r["weak_villages_paired"] for r in rows_with_villages]}
    return render_template("supervise/coverage.html", tab="coverage", rows=rows,
                           totals=found["totals"], weak=weak, region=region, choices=choices,
                           shown=shown, chart=json.dumps(chart, ensure_ascii=False),
                           threshold=found["weak_income_yuan"], today=engine().today())


# -- the tab bar of regional roles -------------------------------------------------------------

DESK_TABS = {
    "supervisor": [("todo", "待办", "web.todo"), ("board", "联而不动", "web.board"),
                   ("followups", "督办", "web.followups"), ("coverage", "覆盖", "web.coverage"),
                   ("messages", "消息", "web.messages"), ("me", "我的", "web.me")],
    "evaluator": [("todo", "待办", "web.todo"), ("rounds", "考核", "web.rounds"),
                  ("ledgers", "台账", "web.ledgers"), ("pairings", "结对", "web.pairings"),
                  ("messages", "消息", "web.messages"), ("me", "我的", "web.me")],
    "admin": [("organisations", "组织", "web.organisations"), ("users", "用户", "web.users"),
              ("rules", "规则", "web.rules_page"), ("rounds", "考核", "web.rounds"),
              ("messages", "消息", "web.messages"), ("me", "我的", "web.me")],
}
# Villages and agencies (base.html's tab bar unless a role has its own above).
PARTY_TABS = [("todo", "待办", "web.todo"), ("pairings", "结对", "web.pairings"),
              ("needs", "需求", "web.needs"), ("messages", "消息", "web.messages"),
              ("me", "我的", "web.me")]


@blueprint.app_context_processor
def _desk_tabs() -> dict[str, Any]:
    actor = g.get("actor")
    return {"tab_bar": DESK_TABS.get(actor.role, PARTY_TABS) if actor is not None else None}
