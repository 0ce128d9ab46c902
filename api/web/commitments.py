"""公开承诺: make a commitment on a pairing, publicise it, report progress, claim fulfilment
(the maker); confirm or dispute the claim (the other side).  The engine's commands with the
signed-in person's Actor; who may do which is the domain's rule."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import g, redirect, render_template, request, url_for

from api.web.blueprint import blueprint
from api.web.auth import engine, signed_in
from api.web.forms import Form, attempt, evidence
from api.web.views import DONE, day_words, history, org_name, send_evidence, tone
from domain import labels
from domain.commitment import PublicCommitment
from domain.pairing import Pairing

CHANNELS = {"村务公开栏": "村务公开栏", "党务公开栏": "党务公开栏", "微信群": "微信群",
            "会议": "会议", "网站": "网站", "其他": "其他"}


def _commitment(commitment_id: UUID) -> PublicCommitment:
    return engine().read(g.actor, PublicCommitment, commitment_id)


@blueprint.route("/pairings/<uuid:pairing_id>/commitments/new", methods=["GET", "POST"])
@signed_in
def make_commitment(pairing_id: UUID) -> Any:
    """作出承诺: what, by when, and a measurable target (quantity and unit, or yuan)."""
    p = engine().read(g.actor, Pairing, pairing_id)
    side = p.side_of(g.actor.organisation_id)
    other = org_name(p.receiver_id if side == "giver" else p.giver_id)
    context = {"p": p, "other": other, "categories": labels.COMMITMENT_CATEGORIES, "tab": "pairings"}
    if request.method == "GET":
        return render_template("commitment_new.html", form={}, errors={}, refusal=None, **context)
    form = Form(request.form)
    category = form.choice("category", "承诺类别", labels.COMMITMENT_CATEGORIES)
    content = form.text("content", "承诺内容", 2000)
    due_on = form.day("due_on", "完成期限")
    quantity = form.amount("quantity", "数量")
    unit = form.text("unit", "单位", 20, required=False)
    amount = form.amount("amount_yuan", "金额（元）")
    done, refusal = attempt(
        form, {"category": "category", "content": "content", "due_on": "due_on",
               "quantity": "quantity", "unit": "unit", "amount_yuan": "amount_yuan",
               "made_by": "content"},
        lambda: engine().make_commitment(g.actor, pairing_id, side or "giver", category, content,
                                         due_on, quantity, unit, amount))
    if done is None:
        return render_template("commitment_new.html", form=dict(request.form), errors=form.errors,
                               refusal=refusal, **context), 422 if form.errors else 409
    return redirect(url_for("web.commitment", commitment_id=done.id, done="made"))


@blueprint.route("/commitments/<uuid:commitment_id>")
@signed_in
def commitment(commitment_id: UUID) -> Any:
    return _page(_commitment(commitment_id))


def _page(c: PublicCommitment, status: int = 200, errors: dict[str, str] | None = None,
          refusal: str | None = None, form: dict[str, str] | None = None) -> Any:
    org = g.actor.organisation_id
    maker, beneficiary = org == c.maker_id, org == c.beneficiary_id
    acts = {"publicise": maker and c.state == "draft",
            "progress": maker and c.state == "public",
            "claim": maker and c.state in ("public", "overdue"),
            "confirm": beneficiary and c.state == "claimed"}

    def lines(kind: str, data: dict[str, Any]) -> list[str]:
        if kind == "CommitmentMade":
            return [data["content"], f"完成期限 {day_words(data['due_on'])}"]
        if kind == "CommitmentPublicised":
            return [f"公开方式：{data['channel']}，{day_words(data['publicised_on'])}"]
        if kind in ("ProgressReported", "FulfilmentClaimed") and data.get("note"):
            return [data["note"]]
        if kind == "DeadlineExtended":
            return [f"期限延至 {day_words(data['new_due_on'])}"]
        return []

    target = []
    if c.quantity is not None:
        target.append(f"{c.quantity.normalize():f} {c.unit}")
    if c.amount_yuan is not None:
        target.append(f"{c.amount_yuan:,.2f} 元")
    return render_template(
        "commitment.html", tab="pairings", c=c, tone=tone, acts=acts, target="，".join(target),
        state_label=labels.label(labels.COMMITMENT_STATES, c.state),
        category_label=labels.label(labels.COMMITMENT_CATEGORIES, c.category),
        maker=org_name(c.maker_id), beneficiary=org_name(c.beneficiary_id),
        channels=CHANNELS,
        timeline=history(c.id, lines, "web.commitment_evidence", commitment_id=c.id),
        notice=DONE.get(request.args.get("done", "")), errors=errors or {}, refusal=refusal,
        form=form or {}, today=engine().today().isoformat()), status


def _act(commitment_id: UUID, what: str, fields: dict[str, str], read: Any, run: Any) -> Any:
    c = _commitment(commitment_id)
    form = Form(request.form)
    values = read(form)
    done, refusal = attempt(form, fields, lambda: run(c, values))
    if done is None:
        return _page(c, 422 if form.errors else 409, form.errors, refusal, dict(request.form))
    return redirect(url_for("web.commitment", commitment_id=commitment_id, done=what))


@blueprint.route("/commitments/<uuid:commitment_id>/publicise", methods=["POST"])
@signed_in
def publicise_commitment(commitment_id: UUID) -> Any:
    def read(form: Form) -> tuple[Any, Any]:
        return (form.choice("channel", "公开方式", CHANNELS),
                form.day("publicised_on", "公开日期", today=engine().today()))

    return _act(commitment_id, "publicised", {"channel": "channel", "publicised_on": "publicised_on"},
                read, lambda c, v: engine().publicise_commitment(
                    g.actor, commitment_id, v[0], v[1], expected_version=c.version))


@blueprint.route("/commitments/<uuid:commitment_id>/progress", methods=["POST"])
@signed_in
def commitment_progress(commitment_id: UUID) -> Any:
    def read(form: Form) -> tuple[Any, ...]:
        return (form.text("note", "进展情况", 2000), form.amount("quantity", "完成数量"),
                form.amount("amount_yuan", "到位金额（元）"))

    return _act(commitment_id, "progress", {"note": "note", "quantity": "quantity",
                                             "amount_yuan": "amount_yuan"}, read,
                lambda c, v: engine().report_commitment_progress(
                    g.actor, commitment_id, v[0], v[1], v[2], expected_version=c.version))


@blueprint.route("/commitments/<uuid:commitment_id>/claim", methods=["POST"])
@signed_in
def claim_fulfilment(commitment_id: UUID) -> Any:
    def read(form: Form) -> tuple[Any, Any]:
        return form.text("claim_note", "践诺说明", 2000, required=False), evidence(form)

    return _act(commitment_id, "fulfilment-claimed",
                {"note": "claim_note", "evidence_sha256": "evidence"}, read,
                lambda c, v: engine().claim_fulfilment(g.actor, commitment_id, v[0], v[1],
                                                       expected_version=c.version))


@blueprint.route("/commitments/<uuid:commitment_id>/evidence/<sha256>")
@signed_in
def commitment_evidence(commitment_id: UUID, sha256: str) -> Any:
    return send_evidence(_commitment(commitment_id).id, sha256)


@blueprint.route("/commitments/<uuid:commitment_id>/confirm", methods=["POST"])
@signed_in
def confirm_fulfilment(commitment_id: UUID) -> Any:
    return _act(commitment_id, "fulfilment-confirmed", {}, lambda form: None,
                lambda c, _: engine().confirm_fulfilment(g.actor, commitment_id,
                                                         expected_version=c.version))


@blueprint.route("/commitments/<uuid:commitment_id>/dispute", methods=["POST"])
@signed_in
def dispute_fulfilment(commitment_id: UUID) -> Any:
    return _act(commitment_id, "fulfilment-disputed", {"reason": "reason"},
                lambda form: form.text("reason", "异议原因", 2000),
                lambda c, reason: engine().dispute_fulfilment(g.actor, commitment_id, reason,
                                                              expected_version=c.version))
