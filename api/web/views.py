"""What the act pages share: names instead of ids, the colour of a state's tag, the
reports' window, and the notice a page shows after an act."""
from __future__ import annotations

from datetime import date
from typing import Any, Callable
from uuid import UUID

from flask import current_app, g, url_for

from api.web.blueprint import blueprint
from api.web.auth import engine
from api.web.evidence import attachments
from domain import labels
from domain.organisation import Organisation
from domain.user import User
from projections.facts import lag_days
from projections.reports import Window
from workflows.errors import NotFound

# The colour repeats a state's words (green: done, amber: waits on someone, red: refused or
# overdue, blue: for information); a tag always carries the words.
TONES = {
    "done": {"in_force", "active", "cosigned", "confirmed", "rated", "closed", "fulfilled",
             "evaluated", "public"},
    "wait": {"proposed", "accepted", "recorded", "open", "pooled", "claimed", "planned",
             "delivered", "draft"},
    "late": {"declined", "terminated", "contested", "overdue", "paired_but_inactive", "slow",
             "cancelled", "not_fulfilled"},
}


def tone(code: str | None) -> str:
    for name, codes in TONES.items():
        if code in codes:
            return name
    return "info"


# After an act the page it lands on says what happened (``?done=``).
DONE = {
    "proposed": "已发起结对，等待对方接受。",
    "accepted": "已接受结对。请签订共建协议。",
    "declined": "已拒绝结对。",
    "signed": "已签订共建协议。",
    "recorded": "活动已记录，等待对方确认。",
    "cosigned": "已确认活动。",
    "contested": "已退回活动，对方会看到退回原因。",
    "raised": "需求已提出。结对单位可以认领。",
    "claimed": "已认领需求。请填写计划完成日期。",
    "planned": "已立项。完成后请报告交付。",
    "delivered": "已报告交付，等待村（社区）确认。",
    "confirmed": "已确认交付。请评价满意度。",
    "rejected": "已退回交付，对方会看到退回原因。",
    "rated": "已评价满意度。谢谢！",
    "made": "承诺已记录。公开后开始履行。",
    "publicised": "承诺已公开。",
    "progress": "已报告进展。",
    "fulfilment-claimed": "已申报践诺，等待对方确认。",
    "fulfilment-confirmed": "已确认践诺。",
    "fulfilment-disputed": "已对践诺提出异议。",
    # the desk pages (supervisors, evaluators)
    "case-opened": "已立案督办，责任单位会在待办里看到。",
    "case-answered": "已答复，督办单位会看到你的答复。",
    "case-closed": "督办已结案。",
    "scores-computed": "已计算得分。",
    "objection-resolved": "已处理异议。",
    "round-rated": "已提交联评评分。谢谢！",
    "round-opened": "已开启年度考核。评审人员和结对双方现在可以看到本轮考核。",
}


def caught_up_db() -> Any:
    """The projections up to the log head as this request found it (read-your-writes)."""
    projections = current_app.extensions["cobuild"].projections
    if projections.position() < projections.head():
        projections.catch_up()
    return projections.db


def window() -> Window:
    return Window(engine().today())


def org_name(organisation_id: UUID | str | None) -> str:
    """An organisation's name (read once a request)."""
    if organisation_id is None:
        return ""
    cache = g.setdefault("org_names", {})
    key = str(organisation_id)
    if key not in cache:
        try:
            cache[key] = engine().load(Organisation, UUID(key)).name
        except (NotFound, ValueError):
            cache[key] = "（未知组织）"
    return cache[key]


def user_name(user_id: str | None) -> str:
    if not user_id or user_id == "system":
        return "系统"
    cache = g.setdefault("user_names", {})
    if user_id not in cache:
        try:
            cache[user_id] = engine().load(User, UUID(user_id)).name
        except (NotFound, ValueError):
            cache[user_id] = "（未知用户）"
    return cache[user_id]


def who_did(actor: dict[str, Any] | None, on_behalf_of: Any) -> dict[str, Any]:
    """Who entered an event, as a timeline says it: the person, their organisation (or
    role), and for whom and why when entered on another's behalf (代录; naming one's own
    organisation is no 代录, as ``domain.base.Attribution.by_proxy`` has it)."""
    actor = actor or {}
    role = actor.get("role")
    where = org_name(actor.get("organisation_id")) if actor.get("organisation_id") else (
        "" if role == "system" else labels.label(labels.ROLES, role) or "")
    proxy = on_behalf_of is not None and str(on_behalf_of) != str(actor.get("organisation_id"))
    return {"name": user_name(actor.get("user_id")), "where": where,
            "for": org_name(on_behalf_of) if proxy else None,
            "why": actor.get("proxy_reason") if proxy else None}


@blueprint.app_template_global("todo_link")
def todo_link(item: dict[str, Any]) -> str | None:
    """Where a 待办 item leads: straight to the page of its act (one tap, then the act)."""
    kind = item.get("kind")
    if kind in ("accept_pairing", "sign_agreement") and item.get("pairing_id"):
        return url_for("web.pairing", pairing_id=item["pairing_id"]) + "#acts"
    if kind == "cosign_activity" and item.get("activity_id"):
        return url_for("web.activity", pairing_id=item["pairing_id"], activity_id=item["activity_id"])
    if kind in ("confirm_delivery", "claim_need") and item.get("task_id"):
        return url_for("web.need", task_id=item["task_id"])
    if kind in ("answer_followup", "close_followup") and item.get("followup_id"):
        return url_for("web.followup", case_id=item["followup_id"])
    if kind == "rate_pairing" and item.get("evaluation_id") and item.get("pairing_id"):
        return url_for("web.rate_pairing", round_id=item["evaluation_id"], pairing_id=item["pairing_id"])
    if kind in ("compute_round", "resolve_objection") and item.get("evaluation_id"):
        return url_for("web.round_page", round_id=item["evaluation_id"])
    if kind == "confirm_fulfilment" and item.get("commitment_id"):
        return url_for("web.commitment", commitment_id=item["commitment_id"])
    if item.get("pairing_id"):
        return url_for("web.pairing", pairing_id=item["pairing_id"])
    return None


def day_words(value: Any) -> str:
    """``2026年3月1日`` from a date or its ISO text."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.year}年{value.month}月{value.day}日"


def history(aggregate_id: UUID, lines: Callable[[str, dict[str, Any]], list[str]]) -> list[dict[str, Any]]:
    """A record's events, newest first, as a person reads them (时间轴): the Chinese name,
    local time, who entered it and for whom (代录), whether it was entered late (补录), the
    reason where one was given, and ``lines`` of what it says."""
    backfill_days = engine().current_rules()["backfill_days"]
    out = []
    for event in engine().repository.event_store.get(aggregate_id):
        data = vars(event)
        kind = type(event).__name__
        occurred = data.get("occurred_at")
        out.append({
            "label": labels.label(labels.EVENT_TYPES, kind), "kind": kind, "when": occurred,
            "recorded": event.timestamp, "lines": lines(kind, data), "reason": data.get("reason"),
            "who": who_did(data.get("actor"), data.get("on_behalf_of")),
            "late": occurred is not None and lag_days(event) > backfill_days,
            "evidence": attachments(data.get("evidence")),
        })
    out.reverse()
    return out
