"""The evaluator's pages (考核): evaluation rounds (state, rule-set version, compute, objections
and their resolution), the frozen results by 五好 dimension with a chart and no ranks, a
record's history with its evidence bundle and the bundle's verification in words, and the
ledgers as CSV/XLSX (DESIGN §12).

The results are the round's own snapshot (what ``compute_evaluation`` froze), listed by name:
nothing here orders organisations by score or numbers their places.  The bundle is
``workflows.audit.bundle``'s, checked here with the offline verifier
(``workflows/audit/verifier.py``) exactly as an evaluator would check the downloaded file.
"""
from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from flask import Response, abort, current_app, g, redirect, render_template, request, url_for

from api.web.blueprint import blueprint
from api.web.auth import engine, signed_in
from api.web.forms import Form, attempt
from api.web.pairings import timeline as pairing_timeline
from api.web.supervise import regional, townships
from api.web.views import DONE, caught_up_db, history, org_name, window
from domain import labels
from domain.base import CobuildAggregate
from domain.commitment import PublicCommitment
from domain.errors import Duplicate
from domain.evaluation import EvaluationRound
from domain.organisation import Organisation
from domain.pairing import Pairing
from domain.pairing_rules import Thresholds
from domain.task import ServiceTask
from projections import export
from projections.evaluations import ProjectionScorer
from projections.reports import commitments_report, tasks_report
from workflows.audit.bundle import BundleError, build_bundle
from workflows.audit.checkpoint import SignerRefused
from workflows.audit.recorder import AuditedRecorder
from workflows.audit.signing import SignerBusy
from workflows.audit.verifier import CannotCheck, VerifierKey, verify_bundle

YEARS_BACK = 5  # rounds listed: this year's and the four before
# The records whose history an evaluator reads, by the word in their address.
RECORDS: dict[str, tuple[type[CobuildAggregate], str]] = {
    "pairing": (Pairing, "结对"), "commitment": (PublicCommitment, "承诺"),
    "task": (ServiceTask, "项目"), "organisation": (Organisation, "党组织"),
}
LEDGERS = {"commitments": ("承诺台账", commitments_report), "tasks": ("项目清单", tasks_report)}


# -- rounds ------------------------------------------------------------------------------------

def _round(round_id: UUID) -> EvaluationRound:
    return engine().evaluation_round(g.actor, round_id)


@blueprint.route("/rounds")
@signed_in
def rounds() -> Any:
    """The rounds of the person's region and the regions above it, newest year first; an
    admin's page also carries the form that opens a round."""
    return _rounds_page(regional())


def _rounds_page(actor: Any, status: int = 200, errors: dict[str, str] | None = None,
                 refusal: str | None = None, form: dict[str, str] | None = None) -> Any:
    found = [{"id": r.id, "year": r.year, "state": r.state,
              "state_label": labels.label(labels.EVALUATION_STATES, r.state),
              "version": r.rule_set_version, "objections": len(r.open_objections)}
             for r in rounds_of(actor)]
    may_open = actor.role == "admin"
    return render_template(
        "evaluate/rounds.html", tab="rounds", items=found, may_open=may_open,
        regions=_round_regions(actor) if may_open else {}, this_year=engine().today().year,
        version=engine().current_rules().version if may_open else None,
        notice=DONE.get(request.args.get("done", "")), errors=errors or {}, refusal=refusal,
        form=form or {}), status


def _round_regions(actor: Any) -> dict[str, str]:
    """Where an admin may open a round: the whole of their region, or one of its townships."""
    own = actor.region_code or ""
    return {own: f"本地区全部（区划代码 {own}）",
            **{t["code"]: t["name"] for t in (townships(own) if len(own) < 9 else [])}}


@blueprint.route("/rounds/new", methods=["POST"])
@signed_in
def open_round() -> Any:
    """开启考核 (admin): the round of a region for a year, with the current rule set (the
    engine's ``open_evaluation``, as ``POST /api/v1/evaluations``)."""
    actor = regional()
    if actor.role != "admin":
        abort(403)
    form = Form(request.form)
    this_year = engine().today().year
    form.labels["year"] = "考核年度"
    typed = form.raw("year")
    year = int(typed) if typed.isdigit() and len(typed) == 4 else None
    if not typed:
        form.fail("year", "请填写考核年度")
    elif year is None or not 2000 <= year <= this_year:
        # a round is opened in or after its year (the engine's rule, said before it refuses)
        form.fail("year", f"考核年度请填写 2000 到 {this_year} 之间的年份")
    region = form.choice("region_code", "考核范围", _round_regions(actor))

    def open_it() -> Any:
        assert year is not None and region is not None  # the form is ok, so both are read
        try:
            return engine().open_evaluation(actor, year, region)
        except Duplicate:  # beside the year: the round of that year is there already
            form.fail("year", f"{year} 年度考核已经开启，不能重复开启")
            return None

    done, refusal = attempt(form, {"year": "year", "region": "region_code"}, open_it)
    if done is None:
        return _rounds_page(actor, 422 if form.errors else 409, form.errors, refusal,
                            dict(request.form))
    return redirect(url_for("web.round_page", round_id=done.id, done="round-opened"))


def rounds_of(actor: Any) -> list[EvaluationRound]:
    """The rounds of the person's region and the regions above it, newest year first (a
    round's id is its region and year: a handful of look-ups, no scan)."""
    own = actor.region_code or ""
    regions = [own[:n] for n in (2, 4, 6, 9, 12) if n <= len(own)] or [own]
    this_year = engine().today().year
    found = []
    for year in range(this_year, this_year - YEARS_BACK, -1):
        for region in regions:
            round_id = EvaluationRound.create_id(region, year)
            if engine().exists(round_id):
                found.append(engine().load(EvaluationRound, round_id))
    return found


@blueprint.route("/rounds/<uuid:round_id>")
@signed_in
def round_page(round_id: UUID) -> Any:
    return _round_page(_round(round_id))


def results(r: EvaluationRound) -> dict[str, Any]:
    """The frozen results, each row by name (never by score), with the chart's numbers: the
    mean points of the round per dimension against the dimension's full marks."""
    snapshot = r.snapshot or {}
    pairings = sorted(snapshot.get("pairings", []),
                      key=lambda p: (p.get("giver_name", ""), p.get("receiver_name", "")))
    organisations = sorted(snapshot.get("organisations", []), key=lambda o: o.get("name", ""))
    for row in (*pairings, *organisations):
        row["grade_label"] = labels.label(labels.GRADES, row.get("grade"))
    rule = Thresholds.from_published(engine().rules_version(r.rule_set_version))
    weights = {"mechanism": rule.weight_mechanism, "teamwork": rule.weight_teamwork,
               "ideology": rule.weight_ideology, "results": rule.weight_results,
               "response": rule.weight_response, "records": rule.weight_records}
    full = {d: weights[d] for d in labels.DIMENSIONS}
    mean = {d: round(sum(p["points"].get(d, 0) for p in pairings) / len(pairings), 2)
            if pairings else 0 for d in labels.DIMENSIONS}
    chart = {"dimensions": list(labels.DIMENSIONS.values()),
             "series": [{"name": "平均得分", "points": [mean[d] for d in labels.DIMENSIONS]},
                        {"name": "满分", "points": [full[d] for d in labels.DIMENSIONS]}]}
    return {"pairings": pairings, "organisations": organisations,
            "chart": json.dumps(chart, ensure_ascii=False), "full": full}


def _round_page(r: EvaluationRound, status: int = 200, errors: dict[str, str] | None = None,
                refusal: str | None = None, form: dict[str, str] | None = None) -> Any:
    actor = g.actor
    objections = [{"id": oid, **o, "who": org_name(o["organisation_id"]) if o["organisation_id"] else "",
                   "pairing": _pairing_words(o["pairing_id"]),
                   "resolution_label": labels.label(labels.OBJECTION_RESOLUTIONS, o["resolution"])}
                  for oid, o in r.objections.items()]
    return render_template(
        "evaluate/round.html", tab="rounds", r=r, results=results(r), objections=objections,
        state_label=labels.label(labels.EVALUATION_STATES, r.state), dimensions=labels.DIMENSIONS,
        may_compute=actor.role in ("evaluator", "admin") and r.state in ("open", "computed"),
        may_resolve=actor.role in ("evaluator", "admin"),
        resolutions=labels.OBJECTION_RESOLUTIONS, notice=DONE.get(request.args.get("done", "")),
        errors=errors or {}, refusal=refusal, form=form or {}), status


def _pairing_words(pairing_id: Any) -> str:
    if not pairing_id:
        return ""
    try:
        p = engine().load(Pairing, UUID(str(pairing_id)))
    except Exception:
        return ""
    return f"{org_name(p.giver_id)} — {org_name(p.receiver_id)}"


@blueprint.route("/rounds/<uuid:round_id>/compute", methods=["POST"])
@signed_in
def compute_round(round_id: UUID) -> Any:
    r = _round(round_id)
    scorer = ProjectionScorer(current_app.extensions["cobuild"].projections)
    done, refusal = attempt(Form(request.form), {}, lambda: engine().compute_evaluation(
        g.actor, round_id, scorer, expected_version=r.version))
    if done is None:
        return _round_page(_round(round_id), 409, refusal=refusal)
    return redirect(url_for("web.round_page", round_id=round_id, done="scores-computed"))


@blueprint.route("/rounds/<uuid:round_id>/objections/<objection_id>/resolve", methods=["POST"])
@signed_in
def resolve_objection(round_id: UUID, objection_id: str) -> Any:
    r = _round(round_id)
    if objection_id not in r.objections:
        abort(404)
    form = Form(request.form)
    resolution = form.choice(f"resolution-{objection_id}", "处理结论", labels.OBJECTION_RESOLUTIONS)
    reason = form.text(f"reason-{objection_id}", "处理理由", 2000)
    done, refusal = attempt(form, {"resolution": f"resolution-{objection_id}",
                                   "reason": f"reason-{objection_id}"},
                            lambda: engine().resolve_evaluation_objection(
                                g.actor, round_id, objection_id, resolution, reason))
    if done is None:
        return _round_page(_round(round_id), 422 if form.errors else 409, form.errors, refusal,
                           dict(request.form))
    return redirect(url_for("web.round_page", round_id=round_id, done="objection-resolved"))


# -- a record's history and its evidence bundle ------------------------------------------------

def _record(kind: str, record_id: UUID) -> CobuildAggregate:
    if kind not in RECORDS:
        abort(404)
    return engine().read(g.actor, RECORDS[kind][0], record_id)


SIGNER_WAIT = 10.0  # seconds a page waits for a signer in another process, as the API


def _bundle(record_id: UUID) -> tuple[dict[str, Any] | None, VerifierKey | None, str | None]:
    """The record's evidence bundle against the latest checkpoint (signed now if the log has
    grown, by the store's one signer), as the JSON API hands it out, with the log's verifier
    key; or why there is none."""
    root = current_app.extensions["cobuild"]
    recorder = root.engine.recorder
    if not isinstance(recorder, AuditedRecorder):
        return None, None, "这个系统没有可验证的日志，无法导出证据包。"

    def store(size: int, tree_root: bytes, note: str) -> None:
        recorder.store_checkpoint(size, tree_root, note, root.engine.clock.now().timestamp())

    try:
        note = root.signer.latest(recorder.audit, store, SIGNER_WAIT)
        key = root.signer.keys.verifier_key()
        return build_bundle(recorder.audit, record_id, note, key), key, None
    except SignerBusy:
        return None, None, "正在生成检查点，请稍后刷新再试。"
    except (BundleError, SignerRefused) as error:
        current_app.logger.warning("no bundle on a page: %s", error)
        return None, None, "这份档案暂时无法导出证据包，请联系系统管理员。"


def verification_words(bundle: dict[str, Any], key: VerifierKey) -> tuple[bool, str, list[str]]:
    """The offline verifier's verdict on ``bundle``, in words an evaluator reads."""
    try:
        report = verify_bundle(bundle, key, require_complete=True)
    except (CannotCheck, ValueError):
        return False, "无法验证：证据包格式不对或缺少验证密钥。", []
    if report.ok:
        return True, f"已验证：共 {len(bundle['events'])} 条事件，完整，未被篡改", []
    return False, "验证未通过：记录可能被改动或缺失，请联系系统管理员并保留此证据包。", report.problems[:10]


@blueprint.route("/records/<kind>/<uuid:record_id>")
@signed_in
def record(kind: str, record_id: UUID) -> Any:
    """档案: a record's whole history (时间轴) and whether its evidence bundle verifies."""
    regional()
    aggregate = _record(kind, record_id)
    bundle, key, why_not = _bundle(record_id)
    ok, verdict, problems = (verification_words(bundle, key) if bundle is not None and key
                             else (False, why_not or "", []))
    return render_template("evaluate/record.html", tab="rounds", kind=kind,
                           kind_words=RECORDS[kind][1], record_id=record_id,
                           title=_record_title(kind, aggregate),
                           timeline=pairing_timeline(aggregate) if isinstance(aggregate, Pairing)
                           else history(record_id, _no_lines),
                           ok=ok, verdict=verdict, problems=problems, has_bundle=bundle is not None)


def _no_lines(kind: str, data: dict[str, Any]) -> list[str]:
    return []


def _record_title(kind: str, aggregate: Any) -> str:
    if kind == "pairing":
        return f"{org_name(aggregate.giver_id)} — {org_name(aggregate.receiver_id)}"
    if kind == "organisation":
        return aggregate.name
    return getattr(aggregate, "title", None) or getattr(aggregate, "content", "") or RECORDS[kind][1]


@blueprint.route("/records/<kind>/<uuid:record_id>/bundle.json")
@signed_in
def record_bundle(kind: str, record_id: UUID) -> Any:
    """The evidence bundle as a file, for ``cobuild audit verify-bundle`` or the verifier."""
    regional()
    _record(kind, record_id)
    bundle, _, why_not = _bundle(record_id)
    if bundle is None:
        return render_template("error.html", title="无法导出", message=why_not), 409
    response = Response(json.dumps(bundle, ensure_ascii=False, indent=1),
                        mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="bundle-{kind}-{record_id}.json"'
    return response


# -- ledgers -----------------------------------------------------------------------------------

@blueprint.route("/ledgers")
@signed_in
def ledgers() -> Any:
    regional()
    return render_template("evaluate/ledgers.html", tab="ledgers", ledgers=LEDGERS,
                           today=engine().today())


@blueprint.route("/ledgers/<name>.<fmt>")
@signed_in
def ledger_file(name: str, fmt: str) -> Any:
    """承诺台账 / 项目清单 of the person's region as CSV or XLSX (``projections.export``)."""
    actor = regional()
    if name not in LEDGERS or fmt not in ("csv", "xlsx"):
        abort(404)
    words, report = LEDGERS[name]
    result = report(caught_up_db(), window(), region=actor.region_code or None, limit=100000)
    if fmt == "csv":
        response = Response(export.to_csv(name, result), mimetype="text/csv")
    else:
        response = Response(export.to_xlsx(name, result, scope=f"区域 {actor.region_code}"),
                            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{window().day}.{fmt}"'
    return response
