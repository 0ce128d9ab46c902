"""需求: a village raises its needs; an agency finds the needs of its villages and the pool
(领办大厅), claims, plans and delivers; the village confirms or rejects the delivery and
rates it.  Each act is the engine's command run with the signed-in person's Actor."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import g, redirect, render_template, request, url_for

from api.web.blueprint import blueprint
from api.web.auth import engine, signed_in
from api.web.forms import Form, attempt, evidence, moment
from api.web.views import (
    DONE, caught_up_db, day_words, evidence_link, history, org_name, send_evidence, tone, window,
)
from domain import labels
from domain.task import ServiceTask
from projections.reports import tasks_report
from workflows.authorisation import REGION_ROLES
from workflows.store.clock import LOCAL_TZ

CLAIMABLE = ("open", "pooled")


@blueprint.route("/needs")
@signed_in
def needs() -> Any:
    """需求: a village's needs and the form to raise one; an agency's tasks and the needs it
    may claim."""
    actor = g.actor
    if actor.role in REGION_ROLES:
        found = tasks_report(caught_up_db(), window(), region=actor.region_code, limit=200)
    elif actor.organisation_id is not None:
        found = tasks_report(caught_up_db(), window(), organisation=str(actor.organisation_id),
                             limit=200)
    else:
        found = {"items": []}
    mine = str(actor.organisation_id)
    items = found["items"]
    claimable = [t for t in items if actor.role == "agency" and t["state"] in CLAIMABLE
                 and t["receiver_id"] != mine]
    own = [t for t in items if t not in claimable]
    return render_template("needs.html", tab="needs", role=actor.role, own=own, claimable=claimable,
                           tone=tone, form={}, errors={}, categories=labels.TASK_CATEGORIES,
                           notice=DONE.get(request.args.get("done", "")), refusal=None)


@blueprint.route("/needs/new", methods=["POST"])
@signed_in
def raise_need() -> Any:
    actor = g.actor
    form = Form(request.form)
    category = form.choice("category", "需求类别", labels.TASK_CATEGORIES)
    title = form.text("title", "需求名称", 200)
    details = form.text("details", "具体情况", 4000, required=False)
    wanted_by = form.day("wanted_by", "希望完成日期", required=False)
    if wanted_by is not None and wanted_by < engine().today():
        form.fail("wanted_by", "希望完成日期不能早于今天")
    done, refusal = attempt(
        form, {"category": "category", "title": "title", "details": "details",
               "wanted_by": "wanted_by", "receiver_id": "title"},
        lambda: engine().raise_need(actor, actor.organisation_id, category, title, details,
                                    wanted_by))
    if done is None:
        return render_template("needs.html", tab="needs", role=actor.role, own=[], claimable=[],
                               tone=tone, form=dict(request.form), errors=form.errors,
                               categories=labels.TASK_CATEGORIES, notice=None,
                               refusal=refusal, only_form=True), 422 if form.errors else 409
    return redirect(url_for("web.need", task_id=done.id, done="raised"))


# -- one need ------------------------------------------------------------------------------------

def _task(task_id: UUID) -> ServiceTask:
    return engine().read(g.actor, ServiceTask, task_id)


@blueprint.route("/needs/<uuid:task_id>")
@signed_in
def need(task_id: UUID) -> Any:
    return _need_page(_task(task_id))


def _need_page(t: ServiceTask, status: int = 200, errors: dict[str, str] | None = None,
               refusal: str | None = None, form: dict[str, str] | None = None) -> Any:
    actor = g.actor
    org = actor.organisation_id
    receiver = org == t.receiver_id
    claimer = t.claimer_id is not None and org == t.claimer_id
    acts = {
        "claim": actor.role == "agency" and t.state in CLAIMABLE,
        "plan": claimer and t.state == "claimed",
        "deliver": claimer and t.state == "planned",
        "confirm": receiver and t.state == "delivered",
        "rate": receiver and t.state == "confirmed",
    }
    return render_template(
        "need.html", tab="needs", t=t, tone=tone, acts=acts,
        state_label=labels.label(labels.TASK_STATES, t.state),
        category_label=labels.label(labels.TASK_CATEGORIES, t.category),
        receiver=org_name(t.receiver_id), claimer=org_name(t.claimer_id) if t.claimer_id else "",
        levels={k: labels.SATISFACTION_LEVELS[k] for k in ("satisfied", "basically_satisfied",
                                                           "dissatisfied")},
        satisfaction=labels.label(labels.SATISFACTION_LEVELS, t.satisfaction),
        proof=evidence_link(t.evidence_sha256, "web.need_evidence", task_id=t.id)
        if t.evidence_sha256 else None,
        timeline=_timeline(t), notice=DONE.get(request.args.get("done", "")),
        errors=errors or {}, refusal=refusal, form=form or {}, today=engine().today().isoformat(),
    ), status


def _timeline(t: ServiceTask) -> list[dict[str, Any]]:
    def lines(kind: str, data: dict[str, Any]) -> list[str]:
        if kind == "NeedRaised":
            return [f"{labels.label(labels.TASK_CATEGORIES, data['category'])}：{data['title']}"]
        if kind == "TaskClaimed":
            return [f"认领单位：{org_name(data['giver_id'])}"]
        if kind == "TaskPlanned":
            out = [f"计划完成日期 {day_words(data['due_on'])}"]
            if data.get("budget_yuan") is not None:
                out.append(f"预算 {data['budget_yuan']:,.2f} 元")
            return out
        if kind == "DeliveryReported":
            out = [f"交付日期 {day_words(data['delivered_at'].astimezone(LOCAL_TZ).date())}"]
            if data.get("value_yuan") is not None:
                out.append(f"交付价值 {data['value_yuan']:,.2f} 元")
            if data.get("note"):
                out.append(f"说明：{data['note']}")
            return out
        if kind == "SatisfactionRated":
            out = [f"评价：{labels.label(labels.SATISFACTION_LEVELS, data['level'])}"]
            if data.get("comment"):
                out.append(f"意见：{data['comment']}")
            return out
        return []

    return history(t.id, lines, "web.need_evidence", task_id=t.id)


@blueprint.route("/needs/<uuid:task_id>/evidence/<sha256>")
@signed_in
def need_evidence(task_id: UUID, sha256: str) -> Any:
    return send_evidence(_task(task_id).id, sha256)


def _done(task_id: UUID, what: str) -> Any:
    return redirect(url_for("web.need", task_id=task_id, done=what))


def _act(task_id: UUID, what: str, fields: dict[str, str], read: Any, run: Any) -> Any:
    """Read the form with ``read(form)``, run the command with ``run(task, values)``; the
    need's page again with the errors beside the fields, or on to it with a notice."""
    t = _task(task_id)
    form = Form(request.form)
    values = read(form)
    done, refusal = attempt(form, fields, lambda: run(t, values))
    if done is None:
        return _need_page(t, 422 if form.errors else 409, form.errors, refusal, dict(request.form))
    return _done(task_id, what)


@blueprint.route("/needs/<uuid:task_id>/claim", methods=["POST"])
@signed_in
def claim_need(task_id: UUID) -> Any:
    return _act(task_id, "claimed", {}, lambda form: None, lambda t, _: engine().claim_task(
        g.actor, task_id, g.actor.organisation_id, expected_version=t.version))


@blueprint.route("/needs/<uuid:task_id>/plan", methods=["POST"])
@signed_in
def plan_need(task_id: UUID) -> Any:
    def read(form: Form) -> tuple[Any, Any]:
        return form.day("due_on", "计划完成日期"), form.amount("budget_yuan", "预算（元）")

    return _act(task_id, "planned", {"due_on": "due_on", "budget_yuan": "budget_yuan"}, read,
                lambda t, v: engine().plan_task(g.actor, task_id, v[0], v[1],
                                                expected_version=t.version))


@blueprint.route("/needs/<uuid:task_id>/deliver", methods=["POST"])
@signed_in
def deliver_need(task_id: UUID) -> Any:
    def read(form: Form) -> tuple[Any, ...]:
        return (form.day("delivered_on", "交付日期", today=engine().today()),
                form.amount("value_yuan", "交付价值（元）"),
                form.text("note", "交付说明", 2000, required=False), evidence(form))

    return _act(task_id, "delivered", {"delivered_at": "delivered_on", "value_yuan": "value_yuan",
                                        "note": "note", "evidence_sha256": "evidence"}, read,
                lambda t, v: engine().report_delivery(
                    g.actor, task_id, moment(v[0], engine().clock.now()), v[1], v[2], v[3],
                    expected_version=t.version))


@blueprint.route("/needs/<uuid:task_id>/confirm", methods=["POST"])
@signed_in
def confirm_need(task_id: UUID) -> Any:
    return _act(task_id, "confirmed", {}, lambda form: None, lambda t, _: engine().confirm_delivery(
        g.actor, task_id, expected_version=t.version))


@blueprint.route("/needs/<uuid:task_id>/reject", methods=["POST"])
@signed_in
def reject_need(task_id: UUID) -> Any:
    return _act(task_id, "rejected", {"reason": "reason"},
                lambda form: form.text("reason", "退回原因", 2000),
                lambda t, reason: engine().reject_delivery(g.actor, task_id, reason,
                                                           expected_version=t.version))


@blueprint.route("/needs/<uuid:task_id>/rate", methods=["POST"])
@signed_in
def rate_need(task_id: UUID) -> Any:
    def read(form: Form) -> tuple[Any, Any]:
        return (form.choice("level", "满意度", labels.SATISFACTION_LEVELS),
                form.text("comment", "意见", 2000, required=False))

    return _act(task_id, "rated", {"level": "level", "comment": "comment"}, read,
                lambda t, v: engine().rate_task(g.actor, task_id, v[0], v[1],
                                                expected_version=t.version))
