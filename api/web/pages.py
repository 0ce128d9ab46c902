"""The pages behind the tab bar: 待办 (the first page after sign-in), and the places the
other tabs lead to until their pages are built."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import current_app, g, redirect, render_template, request, url_for

from api.web.blueprint import blueprint
from api.web.auth import engine, signed_in
from api.web.evaluate import rounds_of
from api.web.views import DONE, caught_up_db, org_name, window
from domain import labels
from projections.queries import Query
from projections.reports import followups_report
from projections.reports import Window

# China keeps UTC+8 without daylight saving: a fixed offset is exact for every date here.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
REGIONAL = ("admin", "supervisor", "evaluator")


@blueprint.app_template_filter("cn_date")
def cn_date(value: Any) -> str:
    """``2026年3月1日``: the way a date reads in a sentence or a list."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    elif isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.year}年{value.month}月{value.day}日"


@blueprint.app_template_filter("cn_time")
def cn_time(value: datetime | None) -> str:
    """A moment as people in China read it: local date and ``09:30``."""
    if value is None:
        return ""
    local = value.astimezone(SHANGHAI)
    return f"{cn_date(local.date())} {local:%H:%M}"


@blueprint.app_template_filter("rule_set")
def rule_set(version: int | str | None) -> str:
    """「默认规则」 or 「规则集第 2 版」 (``domain.labels.rule_set_words``)."""
    return labels.rule_set_words(version)


@blueprint.route("/")
def home() -> Any:
    return redirect(url_for("web.todo" if g.actor is not None else "web.login"))


@blueprint.route("/todo")
@signed_in
def todo() -> Any:
    """待办: what waits on the person's organisation, from the inbox report; for a supervisor
    or an evaluator, what waits on their desk in their region."""
    actor = g.actor
    items: list[dict[str, Any]] = []
    if actor.organisation_id is not None:
        reports = current_app.extensions["cobuild"].reports  # the JSON reports' query service
        reports.caught_up()  # read-your-writes, as the JSON reports
        items = reports.inbox(Query(Window(engine().today()), reports.rules(),
                                    organisation=str(actor.organisation_id)))["items"]
    elif actor.role in DESK_ROLES and actor.region_code is not None:
        items = desk_items(actor)
    return render_template("todo.html", items=items, regional=actor.role in REGIONAL,
                           role=actor.role, today=engine().today(),
                           notice=DONE.get(request.args.get("done", "")))


DESK_ROLES = ("supervisor", "evaluator")


def desk_items(actor: Any) -> list[dict[str, Any]]:
    """A supervisor's: follow-up cases of the region answered and waiting to be closed.  An
    evaluator's: rounds of the region to compute, and objections to resolve."""
    items: list[dict[str, Any]] = []
    if actor.role == "supervisor":
        found = followups_report(caught_up_db(), window(), region=actor.region_code, limit=500)
        for case in found["items"]:
            if case["state"] == "responded":
                items.append({"kind": "close_followup", "followup_id": case["id"],
                              "label": labels.INBOX_KINDS["close_followup"],
                              "counterpart": case["responsible_name"],
                              "title": labels.label(labels.FOLLOWUP_REASONS, case["rule"]),
                              "since": case["responded_on"]})
    else:
        for r in rounds_of(actor):
            if r.state == "open":
                items.append({"kind": "compute_round", "evaluation_id": r.id,
                              "label": labels.INBOX_KINDS["compute_round"],
                              "title": f"{r.year} 年度考核"})
            for objection_id in r.open_objections:
                o = r.objections[objection_id]
                items.append({"kind": "resolve_objection", "evaluation_id": r.id,
                              "label": labels.INBOX_KINDS["resolve_objection"],
                              "counterpart": org_name(o["organisation_id"]) if o["organisation_id"] else "",
                              "title": o["reason"]})
    return items


@blueprint.route("/me")
@signed_in
def me() -> Any:
    """我的: the account, 修改密码 and 退出登录."""
    return render_template("me.html", user=g.user)
