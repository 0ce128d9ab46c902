"""消息: what the workflow tells an organisation (or a region's desk), read from the fact store
a page at a time, newest first, and how far each person has read.

No table of its own holds the messages: each is a fact the fact store keeps already (the
other side accepted or signed, recorded or co-signed an activity, claimed, delivered or
confirmed a need, claimed or confirmed a commitment's fulfilment; a follow-up case opened,
escalated or closed; a reminder before a due date), found through the indexes by the
organisation's own pairings, tasks and cases, so a page reads only what is near the top of
one organisation's list, whatever the size of the province.  Regional desks read the
follow-up cases of their region (by its index).

Reminders are the relay's (``workflows.relay.reminder_text``): a commitment still public, or
a planned task, whose due date is ``reminder_days_before`` days away or nearer.

Which messages a person has read is not a fact of the domain: ``ReadMarks`` keeps, per
user, the newest message they have seen (a small side table), so the count of unread ones
is of those after it.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, NamedTuple

from projections.reports import Facts, region_bounds
from workflows.store import schema
from workflows.store.clock import LOCAL_TZ
from workflows.store.settings import Settings
from workflows.store.sqlstore import SqlStore

PAGE = 20
# The unread count stops counting here (the tab shows 99+).
COUNT_CAP = 100
CLOSED = 1 << 48


class Message(NamedTuple):
    """One message: when (recorded, UTC text that sorts), a tie-breaker (log position), the
    event's name (its class name), what it is about and who did it."""

    at: str
    position: int
    event: str
    subject_type: str  # pairing, activity, task, commitment, followup
    subject_id: str
    pairing_id: str | None
    counterpart_id: str | None
    title: str | None
    value: str | None

    @property
    def key(self) -> tuple[str, int]:
        return self.at, self.position


def _in(values: Iterable[Any]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class _Page:
    """The newest ``limit`` messages before ``before``, gathered from several queries each
    already newest first and limited."""

    def __init__(self, before: tuple[str, int] | None, limit: int) -> None:
        self.before = before
        self.limit = limit
        self.found: list[Message] = []

    def bound(self) -> str:
        # ``at`` equal to the cursor's is fetched and sorted out by position in ``add``.
        return self.before[0] if self.before else "~"

    def add(self, messages: Iterable[Message]) -> None:
        for m in messages:
            if self.before is None or m.key < self.before:
                self.found.append(m)

    def result(self) -> list[Message]:
        return sorted(self.found, key=lambda m: m.key, reverse=True)[:self.limit]


# What the other side's acts on a pairing tell an organisation: the fact's kind, and the
# side (giver or receiver) that is told of it (``None``: both sides).
PAIRING_STEPS = {"accepted": ("PairingAccepted", "giver"), "declined": ("PairingDeclined", "giver"),
                 "suspended": ("PairingSuspended", None), "resumed": ("PairingResumed", None),
                 "renewed": ("PairingRenewed", None), "terminated": ("PairingTerminated", None),
                 "term_ended": ("TermEnded", None)}
# A commitment's steps: told to the maker's side ("maker") or the other ("other").
COMMITMENT_STEPS = {"publicised": ("CommitmentPublicised", "other"),
                    "claimed": ("FulfilmentClaimed", "other"),
                    "confirmed": ("FulfilmentConfirmed", "maker"),
                    "disputed": ("FulfilmentDisputed", "maker"),
                    "overdue": ("CommitmentOverdue", "maker")}
# A need's steps told to the village that raised it, and to the agency that claimed it.
TASK_TO_VILLAGE = {"claimed": "TaskClaimed", "planned": "TaskPlanned", "delivered": "DeliveryReported",
                   "pooled": "NeedPooled"}
TASK_TO_CLAIMER = {"confirmed": "DeliveryConfirmed", "rejected": "DeliveryRejected",
                   "rated": "SatisfactionRated", "cancelled": "TaskCancelled"}
STILL_PUBLIC = ("publicised", "progress", "extended")


def organisation_messages(facts: Facts, organisation: str, today: date, reminder_days: int,
                          before: tuple[str, int] | None = None, limit: int = PAGE) -> list[Message]:
    """The newest ``limit`` messages for one organisation, before the cursor ``before``."""
    page = _Page(before, limit)
    bound, n = page.bound(), limit + 1
    pairings = facts.rows("SELECT id, giver_id, receiver_id, recorded_at, position FROM {p}pairing"
                          " WHERE giver_id = ? UNION ALL SELECT id, giver_id, receiver_id,"
                          " recorded_at, position FROM {p}pairing WHERE receiver_id = ?",
                          [organisation, organisation])
    side = {pid: ("giver" if giver == organisation else "receiver") for pid, giver, _, _, _ in pairings}
    other = {pid: (receiver if giver == organisation else giver) for pid, giver, receiver, _, _ in pairings}
    # proposed to this village
    page.add(Message(at, pos, "PairingProposed", "pairing", pid, pid, giver, None, None)
             for pid, giver, receiver, at, pos in pairings if receiver == organisation and at <= bound)
    for mine in ("giver", "receiver"):
        for part in _chunks([pid for pid, s_ in side.items() if s_ == mine]):
            told = [k for k, (_, to) in PAIRING_STEPS.items() if to in (None, mine)]
            rows = facts.rows(
                "SELECT recorded_at, position, kind, pairing_id FROM {p}pairing_event"
                " WHERE pairing_id IN " + _in(part) + " AND recorded_at <= ? AND (kind IN "
                + _in(told) + " OR (kind = 'signed' AND side <> ?))"
                " ORDER BY recorded_at DESC LIMIT ?", [*part, bound, *told, mine, n])
            page.add(Message(at, pos, "AgreementSigned" if kind == "signed" else PAIRING_STEPS[kind][0],
                             "pairing", pid, pid, other[pid], None, None)
                     for at, pos, kind, pid in rows)
            # activities: recorded by the other side; answered by the other side
            for column, event, recorder in (("recorded_at", "ActivityRecorded", "<>"),
                                            ("cosigned_at", "ActivityCoSigned", "="),
                                            ("contested_at", "ActivityContested", "=")):
                rows = facts.rows(
                    f"SELECT {column}, position, pairing_id, activity_id, title"
                    " FROM {p}activity WHERE pairing_id IN " + _in(part)
                    + f" AND recorded_by {recorder} ? AND {column} IS NOT NULL AND {column} <= ?"
                    f" ORDER BY {column} DESC LIMIT ?", [*part, mine, bound, n])
                page.add(Message(at, pos, event, "activity", activity, pid, other[pid], title, None)
                         for at, pos, pid, activity, title in rows)
    for part in _chunks(list(side)):
        # commitments of these pairings
        commitments = facts.rows(
            "SELECT id, pairing_id, made_by, content, due_on FROM {p}commitment"
            " WHERE pairing_id IN " + _in(part), part)
        made = {cid: (pid, by, content, due) for cid, pid, by, content, due in commitments}
        for cpart in _chunks(list(made)):
            rows = facts.rows(
                "SELECT recorded_at, position, kind, commitment_id, value FROM {p}commitment_event"
                " WHERE commitment_id IN " + _in(cpart) + " ORDER BY position", cpart)
            latest: dict[str, tuple[str, int]] = {}
            due_of = {cid: made[cid][3] for cid in cpart}
            for at, pos, kind, cid, value in rows:
                pid, by, content, _ = made[cid]
                latest[cid] = (kind, pos)
                if kind == "extended" and value:
                    due_of[cid] = value
                if kind in COMMITMENT_STEPS and at <= bound:
                    event, to = COMMITMENT_STEPS[kind]
                    if (to == "maker") == (by == side[pid]):
                        page.add([Message(at, pos, event, "commitment", cid, pid, other[pid], content, None)])
            for cid, (kind, last) in latest.items():
                pid, by, content, _ = made[cid]
                if kind in STILL_PUBLIC and by == side[pid]:
                    page.add(_reminder("commitment", cid, pid, content, due_of[cid], last, today,
                                       reminder_days, bound))
    # needs this village raised
    tasks = facts.rows("SELECT id, title FROM {p}task WHERE receiver_id = ?", [organisation])
    titles = dict(tasks)
    for part in _chunks(list(titles)):
        rows = facts.rows(
            "SELECT recorded_at, position, kind, task_id, giver_id FROM {p}task_event"
            " WHERE task_id IN " + _in(part) + " AND kind IN " + _in(TASK_TO_VILLAGE)
            + " AND recorded_at <= ? ORDER BY recorded_at DESC LIMIT ?",
            [*part, *TASK_TO_VILLAGE, bound, n])
        claimer = dict(facts.rows(
            "SELECT task_id, giver_id FROM {p}task_event WHERE task_id IN " + _in(part)
            + " AND kind = 'claimed' ORDER BY position", part))
        page.add(Message(at, pos, TASK_TO_VILLAGE[kind], "task", tid, None, giver or claimer.get(tid),
                         titles[tid], None) for at, pos, kind, tid, giver in rows)
    # needs this agency claimed: what the village answered, after the claim
    claims = facts.rows("SELECT task_id, MIN(position) FROM {p}task_event WHERE giver_id = ?"
                        " AND kind = 'claimed' GROUP BY task_id", [organisation])
    since = dict(claims)
    for part in _chunks(list(since)):
        info = {tid: (title, receiver) for tid, title, receiver in facts.rows(
            "SELECT id, title, receiver_id FROM {p}task WHERE id IN " + _in(part), part)}
        rows = facts.rows(
            "SELECT recorded_at, position, kind, task_id, value FROM {p}task_event"
            " WHERE task_id IN " + _in(part) + " ORDER BY position", part)
        latest_task: dict[str, tuple[str, str | None, int]] = {}
        for at, pos, kind, tid, value in rows:
            if pos < since[tid]:
                continue
            latest_task[tid] = (kind, value, pos)
            if kind in TASK_TO_CLAIMER and at <= bound:
                title, receiver = info[tid]
                page.add([Message(at, pos, TASK_TO_CLAIMER[kind], "task", tid, None, receiver, title, value)])
        for tid, (kind, value, last) in latest_task.items():
            if kind == "planned" and value:
                page.add(_reminder("task", tid, None, info[tid][0], value, last, today, reminder_days,
                                   bound))
    # follow-up cases this organisation answers for
    page.add(_followups(facts, "responsible_id = ?", [organisation], bound, n))
    return page.result()


def region_messages(facts: Facts, region: str, before: tuple[str, int] | None = None,
                    limit: int = PAGE) -> list[Message]:
    """A regional desk's messages: the follow-up cases of its region (opened, answered,
    escalated, closed)."""
    page = _Page(before, limit)
    bounds = region_bounds(region)
    where, params = ("responsible_region >= ? AND responsible_region < ?", list(bounds)) if bounds \
        else ("1 = 1", [])
    page.add(_followups(facts, where, params, page.bound(), limit + 1, answers=True))
    return page.result()


def _followups(facts: Facts, where: str, params: list[Any], bound: str, n: int,
               answers: bool = False) -> list[Message]:
    """The newest ``n`` openings, closings and escalations (and answers, for a desk) of the
    cases ``where`` selects: each a query newest first with its limit."""
    cases = ("SELECT id, responsible_id, rule, recorded_at, position, closed_at FROM {p}followup"
             " WHERE " + where)
    out = [Message(at, pos, "FollowUpOpened", "followup", case_id, None, responsible, rule, None)
           for case_id, responsible, rule, at, pos, _ in facts.rows(
               cases + " AND recorded_at <= ? ORDER BY recorded_at DESC LIMIT ?", [*params, bound, n])]
    # The fact store keeps no log position of a closing: the case's own, moved past every
    # position, keeps a closing after the opening at an equal time.
    out += [Message(closed_at, pos + CLOSED, "FollowUpClosed", "followup", case_id, None,
                    responsible, rule, None)
            for case_id, responsible, rule, _, pos, closed_at in facts.rows(
                cases + " AND closed_at IS NOT NULL AND closed_at <= ?"
                " ORDER BY closed_at DESC LIMIT ?", [*params, bound, n])]
    kinds = ("updated", "responded") if answers else ("updated",)
    rows = facts.rows(
        "SELECT e.recorded_at, e.position, e.kind, e.case_id, c.responsible_id, c.rule"
        " FROM {p}followup_event e JOIN {p}followup c ON c.id = e.case_id WHERE "
        + where.replace("responsible_", "c.responsible_") + " AND e.kind IN " + _in(kinds)
        + " AND e.recorded_at <= ? ORDER BY e.recorded_at DESC LIMIT ?", [*params, *kinds, bound, n])
    out += [Message(at, pos, "FollowUpUpdated" if kind == "updated" else "FollowUpResponded",
                    "followup", cid, None, responsible, rule, None)
            for at, pos, kind, cid, responsible, rule in rows]
    return out


def _reminder(subject_type: str, subject_id: str, pairing_id: str | None, title: str,
              due_on: str, last: int, today: date, days: int, bound: str) -> list[Message]:
    """The reminder the relay sends ``days`` before a due date, once that day has come (its
    tie-breaker: the log position of the subject's latest step, unique to the subject)."""
    if not days:
        return []
    due = date.fromisoformat(due_on[:10])
    on = due - timedelta(days=days)
    if on > today or due < today:
        return []
    at = datetime.combine(on, time(9, 0), LOCAL_TZ).astimezone(timezone.utc).isoformat()
    if at > bound:
        return []
    return [Message(at, last, "Reminder", subject_type, subject_id, pairing_id, None, title,
                    f"{due.isoformat()}|{days}")]


def count_after(messages: list[Message], seen: tuple[str, int] | None) -> int:
    return sum(1 for m in messages if seen is None or m.key > seen)


# -- how far each person has read ---------------------------------------------------------------

SCHEMA = ("CREATE TABLE IF NOT EXISTS message_read ("
          " user_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL, seen_position BIGINT NOT NULL)")


@schema.step("messages", 1, "how far each person has read their messages (消息)")
def _create(settings: Settings) -> None:
    store = SqlStore(settings, "messages", pool_size=1)
    try:
        store.script(SCHEMA)
    finally:
        store.close()


class ReadMarks:
    """Per user, the newest message seen: a person's, kept across sessions."""

    def __init__(self, settings: Settings) -> None:
        self.store = SqlStore(settings, "messages", pool_size=2)

    def seen(self, user_id: str) -> tuple[str, int] | None:
        with self.store.read() as cur:
            row = cur.execute("SELECT seen_at, seen_position FROM message_read WHERE user_id = ?",
                              (user_id,)).fetchone()
        return (row[0], int(row[1])) if row else None

    def saw(self, user_id: str, newest: tuple[str, int]) -> None:
        """Mark read up to ``newest`` (never back: an older page read later changes nothing)."""
        with self.store.write() as cur:
            cur.execute(
                "INSERT INTO message_read (user_id, seen_at, seen_position) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET seen_at = excluded.seen_at,"
                " seen_position = excluded.seen_position"
                " WHERE excluded.seen_at > message_read.seen_at OR (excluded.seen_at ="
                " message_read.seen_at AND excluded.seen_position > message_read.seen_position)",
                (user_id, newest[0], newest[1]))

    def close(self) -> None:
        self.store.close()
