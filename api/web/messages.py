"""消息: what the workflow tells the person's organisation (a village, an agency) or, for a
supervisor, evaluator or admin, their region: follow-up cases opened, escalated, answered
and closed, reminders before a due date, and the other side's acts that concern it, newest
first, each linking to its record's page.  The messages are read a page at a time from the
fact store (``projections.messages``); a person's read mark is kept across sessions."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from flask import current_app, g, render_template, request, url_for

from api.web.auth import engine, signed_in
from api.web.blueprint import blueprint
from api.web.views import caught_up_db, day_words, org_name
from domain import labels
from projections.messages import (
    COUNT_CAP, PAGE, Message, ReadMarks, count_after, organisation_messages, region_messages,
)
from projections.reports import ReportError, open_facts
from workflows.relay import integration_message, notice_for, reminder_text


def read_marks() -> ReadMarks:
    return current_app.extensions["cobuild"].read_marks


def newest(db: Any, actor: Any, before: tuple[str, int] | None, limit: int) -> list[Message]:
    """The person's messages: their organisation's, or their region's desk's."""
    with open_facts(db) as facts:
        if actor.organisation_id is not None:
            return organisation_messages(facts, str(actor.organisation_id), engine().today(),
                                         engine().current_rules()["reminder_days_before"],
                                         before, limit)
        return region_messages(facts, actor.region_code or "", before, limit)


@blueprint.app_context_processor
def _unread() -> dict[str, Any]:
    """The count on the 消息 tab: messages after the person's read mark (up to 99+)."""
    actor, user = g.get("actor"), g.get("user")
    if actor is None or user is None or g.get("unread_skip"):
        return {"unread": 0}
    runner = current_app.extensions["cobuild"].projections
    user_id = str(user.id)
    seen = read_marks().seen(user_id)
    try:
        # The count changes only when the facts move, the person reads or the day turns
        # (reminders): until then a page is served the count it was last given.
        key = (runner.position(), seen, engine().today())
        counts = current_app.extensions.setdefault("cobuild.unread", {})
        known = counts.get(user_id)
        if known is not None and known[0] == key:
            return {"unread": known[1]}
        count = count_after(newest(runner.db, actor, None, COUNT_CAP), seen)
    except ReportError:  # the projections not built yet: nothing to count
        return {"unread": 0}
    if len(counts) > 10_000:
        counts.clear()  # a bound on memory: the next pages count again
    counts[user_id] = (key, count)
    return {"unread": count}


def _cursor(text: str | None) -> tuple[str, int] | None:
    if not text or "~" not in text:
        return None
    at, _, position = text.rpartition("~")
    try:
        datetime.fromisoformat(at)
        return at, int(position)
    except ValueError:
        return None


@blueprint.route("/messages")
@signed_in
def messages() -> Any:
    actor, user = g.actor, g.user
    before = _cursor(request.args.get("before"))
    found = newest(caught_up_db(), actor, before, PAGE + 1)
    shown, more = found[:PAGE], len(found) > PAGE
    marks = read_marks()
    seen = marks.seen(str(user.id))
    items = [{**words(m), "new": seen is None or m.key > seen} for m in shown]
    if shown and before is None:
        marks.saw(str(user.id), shown[0].key)
    g.unread_skip = True  # this page is where they are read: the tab shows no count
    return render_template(
        "messages.html", tab="messages", items=items,
        older=url_for("web.messages", before=f"{shown[-1].at}~{shown[-1].position}") if more else None,
        first=before is None, regional=actor.organisation_id is None, role=actor.role)


# -- a message in words -------------------------------------------------------------------------

def words(m: Message) -> dict[str, Any]:
    """What a person reads of a message: a headline, a line or two, the local time, a link."""
    at = datetime.fromisoformat(m.at)
    lines: list[str] = []
    if m.event == "Reminder":
        due, _, days = (m.value or "").partition("|")
        headline = "到期提醒"
        lines.append(reminder_text(m.title, day_words(due), days))
    elif m.subject_type == "followup":
        headline = labels.label(labels.EVENT_TYPES, m.event) or ""
        lines.append(_followup_text(m))
        lines.append(f"责任单位：{org_name(m.counterpart_id)}")
    else:
        headline = labels.label(labels.EVENT_TYPES, m.event) or ""
        if m.counterpart_id:
            lines.append(f"对方：{org_name(m.counterpart_id)}")
        if m.title:
            lines.append(f"{labels.MESSAGE_SUBJECTS.get(m.subject_type, '内容')}：{m.title}")
        if m.event == "SatisfactionRated" and m.value:
            lines.append(f"评价：{labels.label(labels.SATISFACTION_LEVELS, m.value)}")
    return {"headline": headline, "lines": lines, "at": at, "link": _link(m),
            "tone": "late" if m.event in LATE else "info"}


LATE = {"FollowUpOpened", "FollowUpUpdated", "Reminder", "ActivityContested", "DeliveryRejected",
        "FulfilmentDisputed", "CommitmentOverdue", "PairingDeclined", "PairingTerminated"}


def _followup_text(m: Message) -> str:
    """The relay's notice of the case's event (``workflows.relay.notice_for``), or for an
    answer, who answered."""
    if m.event == "FollowUpResponded":
        return f"{org_name(m.counterpart_id)}已答复督办：{labels.label(labels.FOLLOWUP_REASONS, m.title)}"
    for event in engine().repository.event_store.get(UUID(m.subject_id)):
        if type(event).__name__ == m.event:
            notice = notice_for(integration_message(m.position, event))
            if notice is not None:
                return str(notice["text"])
    return labels.label(labels.FOLLOWUP_REASONS, m.title) or ""


def _link(m: Message) -> str | None:
    if m.subject_type == "pairing":
        return url_for("web.pairing", pairing_id=m.subject_id)
    if m.subject_type == "activity" and m.pairing_id:
        return url_for("web.activity", pairing_id=m.pairing_id, activity_id=m.subject_id)
    if m.subject_type == "task":
        return url_for("web.need", task_id=m.subject_id)
    if m.subject_type == "commitment":
        return url_for("web.commitment", commitment_id=m.subject_id)
    if m.subject_type == "followup":
        return url_for("web.followup", case_id=m.subject_id)
    return None


