"""结对: the organisation's pairings, one pairing's page with its history as a timeline, and
the acts on a pairing (propose, accept, sign, record an activity, co-sign or contest it).

Every act is the engine's command run with the signed-in person's Actor: who may do what is
decided there, and a refusal is shown in Chinese beside the field it names.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from flask import abort, g, redirect, render_template, request, url_for

from api.web.blueprint import blueprint
from api.web.auth import engine, signed_in
from api.web.evidence import attachments, store_files
from api.web.forms import Form, attempt, moment
from api.web.views import (
    DONE, caught_up_db, day_words as _day, history, org_name, tone, window,
)
from domain import labels
from domain.organisation import RECEIVING_KINDS
from domain.pairing import Pairing
from projections.reports import (
    commitments_report, find_organisations, pairing_proxy_entries, pairings_report,
)
from workflows.authorisation import REGION_ROLES

TERM_YEARS = 3  # the usual term of a 结对 agreement, the form's suggestion


@blueprint.route("/pairings")
@signed_in
def pairings() -> Any:
    """结对: the pairings of the person's organisation (or region) with their status."""
    actor = g.actor
    if actor.role in REGION_ROLES:
        found = pairings_report(caught_up_db(), window(), region=actor.region_code, limit=200)
    elif actor.organisation_id is not None:
        found = pairings_report(caught_up_db(), window(), organisation=str(actor.organisation_id),
                                limit=200)
    else:
        found = {"items": []}
    items = found["items"]
    for item in items:
        mine = str(actor.organisation_id)
        item["other"] = item["receiver_name"] if item["giver_id"] == mine else item["giver_name"]
    return render_template("pairings.html", tab="pairings", items=items, tone=tone,
                           role=actor.role, regional=actor.role in REGION_ROLES,
                           more=found.get("next_cursor") is not None)


# -- one pairing ---------------------------------------------------------------------------------

def _pairing(pairing_id: UUID) -> Pairing:
    return engine().read(g.actor, Pairing, pairing_id)


@blueprint.route("/pairings/<uuid:pairing_id>")
@signed_in
def pairing(pairing_id: UUID) -> Any:
    return _pairing_page(_pairing(pairing_id))


def _pairing_page(p: Pairing, status: int = 200, errors: dict[str, str] | None = None,
                  refusal: str | None = None, form: dict[str, str] | None = None) -> Any:
    actor = g.actor
    today = engine().today()
    side = p.side_of(actor.organisation_id)
    proxied = proxy_rows(p)
    activities = [
        {"id": aid, **a, "kind_label": labels.label(labels.ACTIVITY_KINDS, a["kind"]),
         "status_label": labels.label(labels.ACTIVITY_STATUSES, a["status"]),
         "mine_to_answer": side is not None and a["status"] == "recorded" and a["recorded_by"] != side,
         **proxied.get(aid, NOT_PROXIED)}
        for aid, a in sorted(p.activities.items(), key=lambda kv: kv[1]["occurred_at"], reverse=True)
    ]
    own = proxied.get(None, NOT_PROXIED)
    # A signature a proxy entered, by the side it was entered for.
    proxy_signed = {s for s, org in (("giver", p.giver_id), ("receiver", p.receiver_id))
                    if any(e["event"] == "AgreementSigned" and e["on_behalf_of_id"] == str(org)
                           for e in own["proxy_entries"])}
    commitments = [c for c in commitments_report(
        caught_up_db(), window(), organisation=str(p.giver_id), limit=500)["items"]
        if c["pairing_id"] == str(p.id)]
    state = "expired" if p.expired_on(today) else p.state
    acts = {
        "accept": side == "receiver" and state == "proposed",
        "sign": side is not None and state == "accepted" and side not in p.signed_on,
        "record": side is not None and state == "in_force",
    }
    return render_template(
        "pairing.html", tab="pairings", p=p, state=state, tone=tone, side=side,
        giver=org_name(p.giver_id), receiver=org_name(p.receiver_id),
        state_label=labels.label(labels.PAIRING_STATES, state),
        areas=[labels.label(labels.AREAS, a) for a in p.areas],
        signed=[(labels.SIDES[s], d, s in proxy_signed) for s, d in sorted(p.signed_on.items())],
        own=own, activities=activities, commitments=commitments, acts=acts, timeline=timeline(p),
        notice=DONE.get(request.args.get("done", "")), errors=errors or {}, refusal=refusal,
        form=form or {}, today=today.isoformat(),
    ), status


NOT_PROXIED: dict[str, Any] = {"entered_by_proxy": False, "proxy_entries": []}


def proxy_rows(p: Pairing) -> dict[str | None, dict[str, Any]]:
    """代录 of the pairing, as the rows of ``_proxy.html`` read it: by activity id, and under
    ``None`` the acts on the pairing itself (proposal, acceptance, signatures, ...)."""
    out: dict[str | None, dict[str, Any]] = {}
    for entry in pairing_proxy_entries(caught_up_db(), window(), str(p.id)):
        row = out.setdefault(entry["activity_id"], {"entered_by_proxy": True, "proxy_entries": []})
        row["proxy_entries"].append(entry)
    return out


def timeline(p: Pairing) -> list[dict[str, Any]]:
    """The pairing's events as a timeline, each with what it says about the pairing."""
    titles: dict[str, str] = {}

    def lines(kind: str, data: dict[str, Any]) -> list[str]:
        out: list[str] = []
        if kind == "PairingProposed":
            out.append(f"协议期 {_day(data['term_start'])} 至 {_day(data['term_end'])}")
            if data.get("areas"):
                out.append("共建领域：" + "、".join(str(labels.label(labels.AREAS, a)) for a in data["areas"]))
        elif kind == "AgreementSigned":
            out.append(f"{labels.label(labels.SIDES, data['side'])}签订，签订日期 {_day(data['signed_on'])}")
        elif kind == "ActivityRecorded":
            titles[data["activity_id"]] = data["title"]
            out.append(f"{labels.label(labels.ACTIVITY_KINDS, data['kind'])}：{data['title']}")
            people = _participants(data.get("participants") or {})
            if people:
                out.append("参加人员：" + people)
        elif kind in ("ActivityCoSigned", "ActivityContested"):
            out.append(f"活动：{titles.get(data['activity_id'], '')}")
        elif kind == "PairingRenewed":
            out.append(f"协议期延至 {_day(data['term_end'])}")
        elif kind in ("InactivityFlagged", "InactivityCleared"):
            out.append(labels.label(labels.RULES, data["rule"]) or "")
            if data.get("severity"):
                out.append("程度：" + (labels.label(labels.SEVERITIES, data["severity"]) or ""))
        return out

    return history(p.id, lines)


def _participants(counts: dict[str, int]) -> str:
    return "，".join(f"{labels.label(labels.PARTICIPANT_GROUPS, k)} {v} 人"
                    for k, v in counts.items() if v)


def _done(pairing_id: UUID, what: str, anchor: str = "") -> Any:
    return redirect(url_for("web.pairing", pairing_id=pairing_id, done=what) + anchor)


@blueprint.route("/pairings/<uuid:pairing_id>/accept", methods=["POST"])
@signed_in
def accept_pairing(pairing_id: UUID) -> Any:
    p = _pairing(pairing_id)
    form = Form(request.form)
    done, refusal = attempt(form, {}, lambda: engine().accept_pairing(
        g.actor, pairing_id, expected_version=p.version))
    if done is None:
        return _pairing_page(_pairing(pairing_id), 409, refusal=refusal)
    return _done(pairing_id, "accepted", "#acts")


@blueprint.route("/pairings/<uuid:pairing_id>/decline", methods=["POST"])
@signed_in
def decline_pairing(pairing_id: UUID) -> Any:
    p = _pairing(pairing_id)
    form = Form(request.form)
    reason = form.text("reason", "不接受的原因", 2000)
    done, refusal = attempt(form, {"reason": "reason"}, lambda: engine().decline_pairing(
        g.actor, pairing_id, reason, expected_version=p.version))
    if done is None:
        return _pairing_page(p, 422 if form.errors else 409, form.errors, refusal, dict(request.form))
    return _done(pairing_id, "declined")


@blueprint.route("/pairings/<uuid:pairing_id>/sign", methods=["POST"])
@signed_in
def sign_agreement(pairing_id: UUID) -> Any:
    p = _pairing(pairing_id)
    form = Form(request.form)
    signed_on = form.day("signed_on", "签订日期", today=engine().today())
    done, refusal = attempt(form, {"signed_on": "signed_on"}, lambda: engine().sign_agreement(
        g.actor, pairing_id, signed_on, expected_version=p.version))
    if done is None:
        return _pairing_page(p, 422 if form.errors else 409, form.errors, refusal, dict(request.form))
    return _done(pairing_id, "signed")


# -- activities ----------------------------------------------------------------------------------

@blueprint.route("/pairings/<uuid:pairing_id>/activities/new", methods=["GET", "POST"])
@signed_in
def record_activity(pairing_id: UUID) -> Any:
    """记录共建活动: kind, title, date, who took part (photos are welcome, never required)."""
    p = _pairing(pairing_id)
    context = {"p": p, "other": org_name(p.receiver_id if p.side_of(g.actor.organisation_id) == "giver"
                                         else p.giver_id),
               "kinds": labels.ACTIVITY_KINDS, "tab": "pairings"}
    if request.method == "GET":
        return render_template("activity_new.html", form={"day": engine().today().isoformat()},
                               errors={}, refusal=None, **context)
    form = Form(request.form)
    kind = form.choice("kind", "活动类型", labels.ACTIVITY_KINDS)
    title = form.text("title", "活动名称", 200)
    day = form.day("day", "活动日期", today=engine().today())
    people = {k: form.whole(k, words) for k, words in
              (("giver", "帮扶方人数"), ("receiver", "村（社区）人数"), ("masses", "群众人数"))}
    files = store_files(form)
    done, refusal = attempt(form, {"kind": "kind", "title": "title", "occurred_at": "day",
                                   "participants": "masses", "evidence": "evidence"},
                            lambda: engine().record_activity(
                                g.actor, pairing_id, kind, title, moment(day, engine().clock.now()),  # type: ignore[arg-type]
                                {k: v for k, v in people.items() if v is not None},
                                evidence=[f.sha256 for f in files], expected_version=p.version))
    if done is None:
        return render_template("activity_new.html", form=dict(request.form), errors=form.errors,
                               refusal=refusal, **context), 422 if form.errors else 409
    return _done(pairing_id, "recorded", "#activities")


def _activity(p: Pairing, activity_id: str) -> dict[str, Any]:
    activity = p.activities.get(activity_id)
    if activity is None:
        abort(404)
    return activity


@blueprint.route("/pairings/<uuid:pairing_id>/activities/<activity_id>")
@signed_in
def activity(pairing_id: UUID, activity_id: str) -> Any:
    """The page 待办 opens for 确认活动: what was recorded, and 确认 or 退回 (with a reason)."""
    p = _pairing(pairing_id)
    return _activity_page(p, activity_id)


def _activity_page(p: Pairing, activity_id: str, status: int = 200,
                   errors: dict[str, str] | None = None, refusal: str | None = None,
                   form: dict[str, str] | None = None) -> Any:
    a = _activity(p, activity_id)
    side = p.side_of(g.actor.organisation_id)
    recorder = p.giver_id if a["recorded_by"] == "giver" else p.receiver_id
    return render_template(
        "activity.html", tab="todo", p=p, a=a, activity_id=activity_id,
        kind_label=labels.label(labels.ACTIVITY_KINDS, a["kind"]),
        status_label=labels.label(labels.ACTIVITY_STATUSES, a["status"]), tone=tone,
        recorder=org_name(recorder), people=_participants(a.get("participants") or {}),
        files=attachments(a.get("evidence")), proxy=proxy_rows(p).get(activity_id, NOT_PROXIED),
        answerable=side is not None and a["status"] == "recorded" and a["recorded_by"] != side,
        errors=errors or {}, refusal=refusal, form=form or {}), status


@blueprint.route("/pairings/<uuid:pairing_id>/activities/<activity_id>/cosign", methods=["POST"])
@signed_in
def cosign_activity(pairing_id: UUID, activity_id: str) -> Any:
    p = _pairing(pairing_id)
    _activity(p, activity_id)
    form = Form(request.form)
    done, refusal = attempt(form, {}, lambda: engine().cosign_activity(
        g.actor, pairing_id, activity_id, expected_version=p.version))
    if done is None:
        return _activity_page(_pairing(pairing_id), activity_id, 409, refusal=refusal)
    return _done(pairing_id, "cosigned", "#activities")


@blueprint.route("/pairings/<uuid:pairing_id>/activities/<activity_id>/contest", methods=["POST"])
@signed_in
def contest_activity(pairing_id: UUID, activity_id: str) -> Any:
    p = _pairing(pairing_id)
    _activity(p, activity_id)
    form = Form(request.form)
    reason = form.text("reason", "退回原因", 2000)
    done, refusal = attempt(form, {"reason": "reason"}, lambda: engine().contest_activity(
        g.actor, pairing_id, activity_id, reason, expected_version=p.version))
    if done is None:
        return _activity_page(p, activity_id, 422 if form.errors else 409, form.errors, refusal,
                              dict(request.form))
    return _done(pairing_id, "contested", "#activities")


# -- proposing a pairing (agency) ----------------------------------------------------------------

@blueprint.route("/pairings/new", methods=["GET", "POST"])
@signed_in
def propose_pairing() -> Any:
    """发起结对: find the village by name, then the term and the areas."""
    actor = g.actor
    if actor.role != "agency" or actor.organisation_id is None:
        abort(403)
    q = (request.values.get("q") or "").strip()[:100]
    villages: list[dict[str, Any]] = []
    if q:
        villages = [o for o in find_organisations(caught_up_db(), q, limit=30)["items"]
                    if o["kind"] in RECEIVING_KINDS]
    chosen_id = request.values.get("village") or ""
    chosen = None
    if chosen_id:
        try:
            chosen = {"id": str(UUID(chosen_id)), "name": org_name(UUID(chosen_id))}
        except ValueError:
            abort(404)
    today = engine().today()
    context = {"tab": "pairings", "q": q, "villages": villages, "chosen": chosen,
               "areas": labels.AREAS, "searched": bool(q)}
    if request.method == "GET":
        initial = {"term_start": today.isoformat(),
                "term_end": (today.replace(year=today.year + TERM_YEARS) - timedelta(days=1)).isoformat()
                if not (today.month == 2 and today.day == 29) else
                date(today.year + TERM_YEARS, 2, 28).isoformat()}
        return render_template("propose.html", form=initial, errors={}, refusal=None, **context)
    form = Form(request.form)
    if chosen is None:
        form.fail("q", "请先搜索并选择要结对的村（社区）")
    start = form.day("term_start", "协议开始日期")
    end = form.day("term_end", "协议结束日期")
    if start and end and end <= start:
        form.fail("term_end", "协议结束日期必须晚于开始日期")
    areas = [a for a in request.form.getlist("areas") if a in labels.AREAS]
    done, refusal = attempt(form, {"term_end": "term_end", "term_start": "term_start",
                                   "receiver_id": "q", "areas": "areas"},
                            lambda: engine().propose_pairing(
                                actor, actor.organisation_id, UUID(chosen["id"]), start, end, areas))  # type: ignore[index]  # checked: form.fail above
    if done is None:
        return render_template("propose.html", form=dict(request.form), errors=form.errors,
                               refusal=refusal, chosen_areas=areas, **context), 422 if form.errors else 409
    return _done(done.id, "proposed")
