"""结果联评 from a page: a village or an agency rates the other side of a pairing on the five
五好 in an evaluation round (the 待办 item ``rate_pairing`` leads here).  The act is the
engine's ``submit_joint_rating`` with the signed-in person's Actor: who may rate, in which
round and only once are the engine's rules."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import abort, g, redirect, render_template, request, url_for

from api.web.auth import engine, signed_in
from api.web.blueprint import blueprint
from api.web.forms import Form, attempt
from api.web.views import org_name
from domain import labels
from domain.errors import Duplicate, NotPermitted
from domain.evaluation import EvaluationRound
from domain.pairing import Pairing

TOP = 100  # a score is 0–100 points (domain.evaluation.check_scores)


def scores(form: Form) -> dict[str, int]:
    """The five scores, each a whole number of points from 0 to 100, required."""
    out = {}
    for code, words in labels.FIVE_GOOD.items():
        form.labels[code] = words
        value = form.raw(code)
        if not value:
            form.fail(code, f"请给「{words}」打分")
        elif not value.isdigit() or int(value) > TOP:
            form.fail(code, f"「{words}」请填写 0 到 {TOP} 之间的整数")
        else:
            out[code] = int(value)
    return out


@blueprint.route("/rounds/<uuid:round_id>/pairings/<uuid:pairing_id>/rate", methods=["GET", "POST"])
@signed_in
def rate_pairing(round_id: UUID, pairing_id: UUID) -> Any:
    actor = g.actor
    p: Pairing = engine().read(actor, Pairing, pairing_id)
    side = p.side_of(actor.organisation_id) if actor.organisation_id else None
    if side is None:
        abort(403)  # only the two sides of a pairing rate each other
    # A round's results are read by the organisations they are about once computed; the
    # form needs only its year and state, and whether this side has rated already.
    r = engine().load(EvaluationRound, round_id)
    other = org_name(p.receiver_id if side == "giver" else p.giver_id)
    given = r.ratings.get(str(pairing_id), {}).get(side or "")
    form = Form(request.form)
    refusal = None
    status = 200
    if request.method == "POST":
        values = scores(form)

        def submit() -> Any:
            try:
                return engine().submit_joint_rating(actor, round_id, pairing_id, values)
            except Duplicate as twice:  # rated meanwhile (another tab, a colleague)
                raise NotPermitted("rated-once", str(twice)) from twice

        outcome, refusal = attempt(form, {code: code for code in labels.FIVE_GOOD}, submit)
        if outcome is not None:
            return redirect(url_for("web.todo", done="round-rated"))
        status = 422 if not form.ok else 409
    return render_template(
        "rate.html", tab="todo", r=r, p=p, other=other, given=given, dimensions=labels.FIVE_GOOD,
        state_label=labels.label(labels.EVALUATION_STATES, r.state),
        errors=form.errors, refusal=refusal, form={k: form.raw(k) for k in labels.FIVE_GOOD},
        top=TOP), status
