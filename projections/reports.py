"""Reports over the fact store, each answered for a business date and a recorded time.

``Window(as_of, known_at)``: a fact counts when it happened by the end of ``as_of`` (a local
date) and, if ``known_at`` is given, was recorded by then.  "What did we know on 31 December
about the state on 31 December" is ``Window(date(Y, 12, 31), known_at=date(Y, 12, 31))``.

Every report reads one consistent snapshot of the active fact tables.  Pages are keyset
pages in (receiver region, pairing id) order: ``next_cursor`` goes back in as ``cursor``.
"""
from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from typing import Any, Iterable, Iterator, NamedTuple

from domain import labels, scoring
from domain.item_states import CommitmentState, Step, TaskState, commitment_state, task_state
from domain.organisation import GIVING_KINDS, RECEIVING_KINDS
from domain.region import LEVEL_DIGITS, ancestors
from projections.round_facts import RATING_STATES
from domain.pairing_rules import (
    DEFAULT_RULES, Lifecycle, PairingFacts, RuleHit, Thresholds, derived_status, lifecycle_state,
    rule_hits,
)
from projections.facts import stamp
from projections.rows import (
    BoardItem, CommitmentItem, CoverageRow, FollowUpItem, FollowUpRegion, InboxItem,
    OrganisationRow, OrganisationScore, PairingScore, ProxyEntryItem, Row, TaskItem, WeakVillage,
)
from projections.runner import NAME, prefix
from projections.store import ProjectionDatabase, active_version
from workflows.store.clock import LOCAL_TZ, start_of_local_day

CHUNK = 200
NEVER = "9999-12-31T23:59:59.999999Z"


class ReportError(ValueError):
    """A report was asked for with parameters it cannot answer (bad cursor, bad region)."""


@dataclass(frozen=True)
class Window:
    as_of: date
    known_at: date | datetime | None = None

    # Cached: a page compares thousands of rows with these two.
    @functools.cached_property
    def day(self) -> str:
        return self.as_of.isoformat()

    @functools.cached_property
    def known_before(self) -> str:
        """Recorded times strictly below this bound are known."""
        if self.known_at is None:
            return NEVER
        if isinstance(self.known_at, datetime):
            if self.known_at.tzinfo is None:
                raise ReportError("known_at needs a UTC offset")
            return stamp(self.known_at + timedelta(microseconds=1))
        return stamp(start_of_local_day(self.known_at + timedelta(days=1)))

    def as_dict(self) -> dict[str, Any]:
        known_at = self.known_at
        if isinstance(known_at, datetime):
            known_at = known_at.astimezone(LOCAL_TZ)  # as people read times: +08:00
        return {"as_of": self.day, "known_at": known_at.isoformat() if known_at else None}


def region_bounds(region: str | None) -> tuple[str, str] | None:
    """A region prefix as a range, so the region indexes serve it on any database."""
    if not region:
        return None
    if not region.isdigit() or len(region) > 12:
        raise ReportError("region must be a prefix of a 12-digit division code")
    return region, region + ":"  # ':' sorts right after '9'


class Facts:
    """One read snapshot of the active fact tables."""

    def __init__(self, conn: sqlite3.Connection, table_prefix: str) -> None:
        self.conn = conn
        self.p = table_prefix

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql.replace("{p}", self.p), tuple(params)).fetchall()


@contextlib.contextmanager
def open_facts(db: ProjectionDatabase) -> Iterator[Facts]:
    with db.read() as conn:
        version = active_version(conn, NAME)
        if version is None:
            raise ReportError("the projections have not been built yet: run `cobuild projections catch-up`")
        yield Facts(conn, prefix(version))


# -- pairing facts as of a window ---------------------------------------------------------------

class PairingRow(NamedTuple):
    """A page reads hundreds of these: a named tuple is made several times faster than a
    frozen dataclass, and is as immutable."""

    id: str
    giver_id: str
    receiver_id: str
    giver_region: str
    receiver_region: str
    term_start: str
    term_end: str
    # The milestones (``projections.facts``): they settle the lifecycle of most pairings
    # without reading their transitions (``lifecycles``).
    accepted_day: str | None
    accepted_at: str | None
    signatures: int
    in_force_day: str | None
    in_force_at: str | None
    ended_day: str | None
    toggles: int
    renewals: int


PAIRING_COLUMNS = ("id, giver_id, receiver_id, giver_region, receiver_region, term_start, term_end,"
                   " accepted_day, accepted_at, signatures, in_force_day, in_force_at, ended_day,"
                   " toggles, renewals")


def _in(ids: list[str]) -> str:
    return "(" + ",".join("?" * len(ids)) + ")"


LIFECYCLE_AGGREGATES = (
    "MAX(CASE WHEN e.kind = 'accepted' THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN e.kind = 'signed' THEN 1 ELSE 0 END),"
    " MAX(CASE WHEN e.kind = 'signed' THEN e.value END),"
    " MAX(CASE WHEN e.kind = 'declined' THEN 1 ELSE 0 END),"
    " MAX(CASE WHEN e.kind = 'terminated' THEN 1 ELSE 0 END),"
    " MAX(CASE WHEN e.kind = 'term_ended' THEN 1 ELSE 0 END),"
    " MAX(CASE WHEN e.kind = 'suspended' THEN e.position END),"
    " MAX(CASE WHEN e.kind = 'resumed' THEN e.position END),"
    " MAX(CASE WHEN e.kind = 'resumed' THEN e.day END),"
    " MAX(CASE WHEN e.kind = 'renewed' THEN e.value END)")


def _lifecycle(p: PairingRow, r: tuple | None) -> Lifecycle:
    if r is None:
        return Lifecycle(term_end=date.fromisoformat(p.term_end))
    term_end = max(p.term_end, r[10] or p.term_end)
    return Lifecycle(
        term_end=date.fromisoformat(term_end), accepted=bool(r[1]), signatures=r[2],
        in_force_on=date.fromisoformat(r[3]) if r[2] >= 2 else None,
        declined=bool(r[4]), terminated=bool(r[5]), term_ended=bool(r[6]),
        suspended_seq=r[7], resumed_seq=r[8],
        resumed_on=date.fromisoformat(r[9]) if r[9] else None)


def _signed_and_never_changed(p: PairingRow, w: Window) -> Lifecycle | None:
    """The lifecycle of a pairing whose two signatures are visible in the window and that
    was never suspended, resumed, renewed, declined, terminated or ended (in any window),
    from its milestones alone; ``None`` for any other pairing.

    Its transitions are then an acceptance (once at most: ``Pairing.accept``) and the two
    signatures, both visible exactly when the later signing date and the later recording
    are (``in_force_day``, ``in_force_at``); it came into force on the later signing date."""
    in_force_day, in_force_at = p.in_force_day, p.in_force_at  # set with the second signature
    if (p.toggles or p.renewals or p.ended_day is not None or p.signatures != 2
            or in_force_day is None or in_force_at is None
            or not (in_force_day <= w.day and in_force_at < w.known_before)):
        return None
    return Lifecycle(
        term_end=date.fromisoformat(p.term_end),
        accepted=(p.accepted_day is not None and p.accepted_at is not None
                  and p.accepted_day <= w.day and p.accepted_at < w.known_before),
        signatures=2, in_force_on=date.fromisoformat(in_force_day))


def lifecycles(facts: Facts, w: Window, pairings: list[PairingRow]) -> dict[str, Lifecycle]:
    """The lifecycle transitions of ``pairings`` (a page of them) visible in the window.

    Most pairings are signed and never changed after: their milestones say it all, and
    only the others' transitions are read."""
    out: dict[str, Lifecycle] = {}
    others: list[PairingRow] = []
    for p in pairings:
        life = _signed_and_never_changed(p, w)
        if life is None:
            others.append(p)
        else:
            out[p.id] = life
    if not others:
        return out
    ids = [p.id for p in others]
    rows = facts.rows(
        "SELECT e.pairing_id, " + LIFECYCLE_AGGREGATES + " FROM {p}pairing_event e"
        " WHERE e.day <= ? AND e.recorded_at < ? AND e.pairing_id IN " + _in(ids)
        + " GROUP BY e.pairing_id", [w.day, w.known_before, *ids])
    by_id = {r[0]: r for r in rows}
    out.update((p.id, _lifecycle(p, by_id.get(p.id))) for p in others)
    return out


def _lifecycles_bulk(facts: Facts, w: Window, pairings: list[PairingRow]) -> dict[str, Lifecycle]:
    out: dict[str, Lifecycle] = {}
    for start in range(0, len(pairings), 900):
        out.update(lifecycles(facts, w, pairings[start:start + 900]))
    return out


def signatures_by_side(facts: Facts, w: Window, ids: list[str]) -> dict[str, set[str]]:
    if not ids:
        return {}
    rows = facts.rows(
        "SELECT pairing_id, side FROM {p}pairing_event WHERE kind = 'signed' AND day <= ?"
        " AND recorded_at < ? AND pairing_id IN " + _in(ids), [w.day, w.known_before, *ids])
    out: dict[str, set[str]] = defaultdict(set)
    for pairing_id, side in rows:
        out[pairing_id].add(side)
    return out


class ActivitySummary(NamedTuple):
    """One per pairing of a page (a named tuple, like ``PairingRow``)."""

    last_on: date | None = None
    last_receiver_on: date | None = None
    joint_org_life: int = 0
    practical_matters: int = 0
    cosigned: int = 0
    backfilled: int = 0


COSIGNED = ("day <= ? AND recorded_at < ? AND cosigned_day IS NOT NULL AND cosigned_day <= ?"
            " AND cosigned_at < ?")


def activity_summaries(facts: Facts, w: Window, ids: list[str],
                       rules: Thresholds) -> dict[str, ActivitySummary]:
    """Co-signed activities only: contested or unanswered ones never count."""
    if not ids:
        return {}
    year_start = date(w.as_of.year, 1, 1).isoformat()
    rows = facts.rows(
        "SELECT pairing_id, MAX(day), MAX(CASE WHEN recorded_by = 'receiver' THEN day END),"
        " SUM(CASE WHEN kind = 'joint_org_life' AND day >= ? THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN kind = 'practical_matter' AND day >= ? THEN 1 ELSE 0 END),"
        " COUNT(*), SUM(CASE WHEN lag_days > ? THEN 1 ELSE 0 END)"
        " FROM {p}activity WHERE " + COSIGNED + " AND pairing_id IN " + _in(ids)
        + " GROUP BY pairing_id",
        [year_start, year_start, rules.backfill_days, w.day, w.known_before, w.day,
         w.known_before, *ids])
    return {r[0]: ActivitySummary(
        last_on=date.fromisoformat(r[1]) if r[1] else None,
        last_receiver_on=date.fromisoformat(r[2]) if r[2] else None,
        joint_org_life=r[3], practical_matters=r[4], cosigned=r[5], backfilled=r[6])
        for r in rows}


def pairing_facts(life: Lifecycle, activity: ActivitySummary, outcomes: "Outcomes",
                  as_of: date) -> PairingFacts:
    return PairingFacts(
        state=lifecycle_state(life, as_of), in_force_on=life.in_force_on,
        resumed_on=life.resumed_on, last_activity_on=activity.last_on,
        last_confirmed_outcome_on=outcomes.last_confirmed_on,
        first_public_commitment_on=outcomes.first_public_on,
        last_receiver_initiative_on=_latest(activity.last_receiver_on,
                                            outcomes.last_receiver_commitment_on),
        joint_org_life_in_year=activity.joint_org_life,
        practical_matters_in_year=activity.practical_matters + outcomes.practical_in_year,
        overdue_since=outcomes.overdue_since,
        unconfirmed_deliveries=outcomes.unconfirmed_deliveries)


def proxy_activities(facts: Facts, w: Window, ids: list[str]) -> dict[str, int]:
    """By pairing: its co-signed activities of which a proxy entered a side (代录)."""
    if not ids:
        return {}
    return dict(facts.rows(
        "SELECT x.subject_id, COUNT(DISTINCT x.item_id) FROM {p}proxy_entry x"
        " JOIN (SELECT pairing_id, activity_id FROM {p}activity WHERE " + COSIGNED
        + " AND pairing_id IN " + _in(ids) + ") a"
        " ON a.pairing_id = x.subject_id AND a.activity_id = x.item_id"
        " WHERE x.day <= ? AND x.recorded_at < ? GROUP BY x.subject_id",
        [w.day, w.known_before, w.day, w.known_before, *ids, w.day, w.known_before]))


def org_names(facts: Facts, ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return dict(facts.rows("SELECT id, name FROM {p}org WHERE id IN " + _in(ids), ids))


def organisation_names(db: ProjectionDatabase, ids: Iterable[str]) -> dict[str, str]:
    with open_facts(db) as facts:
        return org_names(facts, ids)


def proxy_entries(facts: Facts, w: Window, subject_ids: Iterable[str]) -> dict[str, list[Any]]:
    """代录: the facts of these commitments, tasks or pairings (their activities) that a
    proxy entered within ``w``, oldest first, as ``ProxyEntryItem`` rows by subject."""
    ids = sorted(set(subject_ids))
    found: list[tuple] = []
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        found += facts.rows(
            "SELECT subject_id, item_id, event, user_id, role, on_behalf_of, reason, day"
            " FROM {p}proxy_entry WHERE day <= ? AND recorded_at < ? AND subject_id IN "
            + _in(part) + " ORDER BY position", [w.day, w.known_before, *part])
    if not found:
        return {}
    users = sorted({r[3] for r in found})
    people = dict(facts.rows("SELECT id, name FROM {p}account WHERE id IN " + _in(users), users))
    orgs = org_names(facts, [r[5] for r in found])
    out: dict[str, list[Any]] = defaultdict(list)
    for subject, item, event, user, role, org, reason, day in found:
        out[subject].append(ProxyEntryItem.of(
            event=event, day=day,
            entered_by_name=people.get(user) or labels.ROLES.get(role or "", user),
            entered_by_role=role, on_behalf_of_name=orgs.get(org, ""), reason=reason,
            entered_by_id=user, on_behalf_of_id=org, activity_id=item))
    return out


def pairing_proxy_entries(db: ProjectionDatabase, w: Window, pairing_id: str) -> list[dict[str, Any]]:
    """代录 of one pairing within ``w``, oldest first, as JSON: its own acts' (no
    ``activity_id``: proposal, acceptance, signatures, ...) and its activities'."""
    with open_facts(db) as facts:
        return [ProxyEntryItem.json(e)
                for e in proxy_entries(facts, w, [pairing_id]).get(pairing_id, [])]


# -- commitments and tasks as of a window -------------------------------------------------------

COMMITMENT_COLUMNS = ("id, pairing_id, giver_id, receiver_id, receiver_region, made_by, category,"
                      " content, quantity, unit, amount_yuan, due_on, day, recorded_at, lag_days")
TASK_COLUMNS = ("id, receiver_id, receiver_region, category, title, wanted_by, day, recorded_at,"
                " lag_days")


@dataclass(frozen=True)
class CommitmentRow:
    id: str
    pairing_id: str
    giver_id: str
    receiver_id: str
    receiver_region: str
    made_by: str
    category: str
    content: str
    quantity: str | None
    unit: str | None
    amount_yuan: str | None
    due_on: str
    day: str
    recorded_at: str
    lag_days: int


@dataclass(frozen=True)
class TaskRow:
    id: str
    receiver_id: str
    receiver_region: str
    category: str
    title: str
    wanted_by: str | None
    day: str
    recorded_at: str
    lag_days: int


def _steps(facts: Facts, w: Window, table: str, key: str, ids: list[str],
           with_giver: bool = False) -> dict[str, list[Step]]:
    out: dict[str, list[Step]] = defaultdict(list)
    columns = f"{key}, kind, day, value" + (", giver_id" if with_giver else "")
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        for r in facts.rows(
                f"SELECT {columns} FROM {{p}}{table} WHERE day <= ? AND recorded_at < ?"
                f" AND {key} IN " + _in(part) + " ORDER BY position",
                [w.day, w.known_before, *part]):
            out[r[0]].append(Step(r[1], date.fromisoformat(r[2]), r[3],
                                  r[4] if with_giver else None))
    return out


def commitments_where(facts: Facts, w: Window, where: str, params: list[Any],
                      limit: int | None = None,
                      ) -> list[tuple[CommitmentRow, CommitmentState]]:
    rows = [CommitmentRow(*r) for r in facts.rows(
        "SELECT " + COMMITMENT_COLUMNS + " FROM {p}commitment WHERE day <= ? AND recorded_at < ?"
        " AND " + where + " ORDER BY receiver_region, id" + (" LIMIT ?" if limit else ""),
        [w.day, w.known_before, *params, *([limit] if limit else [])])]
    steps = _steps(facts, w, "commitment_event", "commitment_id", [r.id for r in rows])
    return [(r, commitment_state(date.fromisoformat(r.due_on), steps.get(r.id, ())))
            for r in rows]


def tasks_where(facts: Facts, w: Window, where: str, params: list[Any],
                limit: int | None = None,
                ) -> list[tuple[TaskRow, TaskState]]:
    rows = [TaskRow(*r) for r in facts.rows(
        "SELECT " + TASK_COLUMNS + " FROM {p}task WHERE day <= ? AND recorded_at < ?"
        " AND " + where + " ORDER BY receiver_region, id" + (" LIMIT ?" if limit else ""),
        [w.day, w.known_before, *params, *([limit] if limit else [])])]
    steps = _steps(facts, w, "task_event", "task_id", [r.id for r in rows], with_giver=True)
    return [(r, task_state(steps.get(r.id, ()))) for r in rows]


@dataclass
class Outcomes:
    """A pairing's commitments and tasks folded into what its rules and board need."""

    commitments: dict[str, int]
    tasks: dict[str, int]
    last_confirmed_on: date | None = None
    first_public_on: date | None = None
    last_receiver_commitment_on: date | None = None
    practical_in_year: int = 0
    overdue_since: tuple[date, ...] = ()
    unconfirmed_deliveries: tuple[date, ...] = ()


def _latest(*days: date | None) -> date | None:
    present = [d for d in days if d is not None]
    return max(present) if present else None


def pairings_by_parties(chunk: list[PairingRow]) -> dict[tuple[str, str], list[str]]:
    """A task has no pairing of its own: it belongs to the pairings between its claimer and
    its receiver (one in force at a time; earlier ones keep their history)."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in chunk:
        out[(p.giver_id, p.receiver_id)].append(p.id)
    return out


def pairing_outcomes(facts: Facts, w: Window, chunk: list[PairingRow]) -> dict[str, Outcomes]:
    out = {p.id: Outcomes(defaultdict(int), defaultdict(int)) for p in chunk}
    commitment_outcomes(facts, w, chunk, out)
    task_outcomes(facts, w, chunk, out)
    return out


def commitment_outcomes(facts: Facts, w: Window, chunk: list[PairingRow],
                        out: dict[str, Outcomes]) -> None:
    """Fold the commitments of ``chunk`` into ``out``."""
    ids = [p.id for p in chunk]
    year = w.as_of.year
    overdue: dict[str, list[date]] = defaultdict(list)
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        for row, c in commitments_where(facts, w, "pairing_id IN " + _in(part), part):
            o = out[row.pairing_id]
            o.commitments[c.shown_state(w.as_of)] += 1
            o.last_confirmed_on = _latest(o.last_confirmed_on, c.fulfilled_on)
            if c.publicised_on is not None:
                o.first_public_on = min(filter(None, (o.first_public_on, c.publicised_on)))
            if row.made_by == "receiver":
                o.last_receiver_commitment_on = _latest(
                    o.last_receiver_commitment_on, date.fromisoformat(row.day))
            if row.category == "practical_matter" and c.fulfilled_on and c.fulfilled_on.year == year:
                o.practical_in_year += 1
            if (since := c.overdue_since(w.as_of)) is not None:
                overdue[row.pairing_id].append(since)
    for p in chunk:
        out[p.id].overdue_since = tuple(sorted(overdue.get(p.id, ())))


def task_outcomes(facts: Facts, w: Window, chunk: list[PairingRow],
                  out: dict[str, Outcomes]) -> None:
    """Fold the service tasks the pairings of ``chunk`` claimed into ``out``.

    A task belongs to the pairing of its receiver and its claimer, so only the receivers'
    tasks that one of the chunk's givers ever claimed are read: most of a receiver's tasks
    were claimed by the givers of its other pairings.  That filter is a superset (any step
    naming the giver, visible or not); which pairing a task counts for is decided below,
    from its visible steps (``items.task_state``)."""
    year = w.as_of.year
    waiting: dict[str, list[date]] = defaultdict(list)
    by_parties = pairings_by_parties(chunk)
    steps: dict[str, list[Step]] = defaultdict(list)
    receiver_of: dict[str, str] = {}
    # Parts of 450 pairings keep the parameters under SQLite's old limit of 999; a task a
    # part read in full is not read again by a later part whose givers also claimed it.
    for start in range(0, len(chunk), 450):
        part = chunk[start:start + 450]
        receivers = sorted({p.receiver_id for p in part})
        givers = sorted({p.giver_id for p in part})
        earlier = set(receiver_of)
        for task_id, receiver_id, kind, day, value, giver_id in facts.rows(
                "SELECT e.task_id, t.receiver_id, e.kind, e.day, e.value, e.giver_id"
                " FROM {p}task t JOIN {p}task_event e ON e.task_id = t.id"
                " WHERE t.receiver_id IN " + _in(receivers)
                + " AND t.day <= ? AND t.recorded_at < ? AND t.id IN"
                " (SELECT c.task_id FROM {p}task_event c WHERE c.giver_id IN " + _in(givers)
                + ") AND e.day <= ? AND e.recorded_at < ? ORDER BY e.position",
                [*receivers, w.day, w.known_before, *givers, w.day, w.known_before]):
            if task_id in earlier:
                continue
            receiver_of[task_id] = receiver_id
            steps[task_id].append(Step(kind, date.fromisoformat(day), value, giver_id))
    for task_id, task_steps in steps.items():
        t = task_state(task_steps)
        if t.claimer_id is None:  # nobody's pairing yet
            continue
        for pairing_id in by_parties.get((t.claimer_id, receiver_of[task_id]), ()):
            o = out[pairing_id]
            o.tasks[t.state] += 1
            o.last_confirmed_on = _latest(o.last_confirmed_on, t.confirmed_on)
            if t.confirmed_on and t.confirmed_on.year == year:
                o.practical_in_year += 1
            if t.state == "delivered" and t.delivered_on is not None:
                waiting[pairing_id].append(t.delivered_on)
    for p in chunk:
        out[p.id].unconfirmed_deliveries = tuple(sorted(waiting.get(p.id, ())))


def pairings_possibly_slow(facts: Facts, w: Window, rules: Thresholds, ids: list[str]) -> set[str]:
    """The pairings among ``ids`` with a commitment that can make an R5 hit: its last visible
    step that changes its state (``items.commitment_state``: every step but progress reports
    and extensions) leaves it publicised, overdue, claimed or disputed, and its due date (the
    last visible extension, else the original) is more than ``slow_overdue_days`` ago.

    An extension only ever moves the due date later (``Commitment.extend_deadline``), so
    the original due date is tested first: the commitments not due by then are ruled out
    without looking at their steps."""
    overdue_before = (w.as_of - timedelta(days=rules.slow_overdue_days)).isoformat()
    out: set[str] = set()
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        out.update(r for r, in facts.rows(
            "SELECT DISTINCT c.pairing_id FROM {p}commitment c WHERE c.pairing_id IN " + _in(part)
            + " AND c.day <= ? AND c.recorded_at < ? AND c.due_on < ?"
            " AND (SELECT e.kind FROM {p}commitment_event e WHERE e.commitment_id = c.id"
            " AND e.kind NOT IN ('progress', 'extended') AND e.day <= ? AND e.recorded_at < ?"
            " ORDER BY e.position DESC LIMIT 1) IN ('publicised', 'overdue', 'claimed', 'disputed')"
            " AND COALESCE((SELECT e.value FROM {p}commitment_event e WHERE e.commitment_id = c.id"
            " AND e.kind = 'extended' AND e.day <= ? AND e.recorded_at < ?"
            " ORDER BY e.position DESC LIMIT 1), c.due_on) < ?",
            [*part, w.day, w.known_before, overdue_before, *[w.day, w.known_before] * 2,
             overdue_before]))
    return out


def parties_with_delivery_waiting(facts: Facts, w: Window, rules: Thresholds,
                                  regions: list[str]) -> set[tuple[str, str]]:
    """(giver, receiver) pairs, for the receivers in ``regions``, with a service task that
    can make an R9 hit: its state in the window is ``delivered`` (``items.task_state``: the
    last visible step that changes the state, every step but ``confirmation_overdue``, is
    the delivery) at least ``unconfirmed_delivery_days`` ago, and the giver claimed it at
    some point (its claimer is the giver of a visible claim).

    By region, not by receiver: the region index holds the task ids, so only the few tasks
    found are read from the table (an organisation's region never changes, so its tasks
    carry the region of its pairings).  A region's other receivers, if any, only add pairs
    nobody asks about."""
    delivered_by = (w.as_of - timedelta(days=rules.unconfirmed_delivery_days)).isoformat()
    out: set[tuple[str, str]] = set()
    for start in range(0, len(regions), 900):
        part = regions[start:start + 900]
        out.update(facts.rows(
            "SELECT DISTINCT c.giver_id, t.receiver_id FROM {p}task t"
            " JOIN {p}task_event c ON c.task_id = t.id AND c.kind = 'claimed'"
            " AND c.day <= ? AND c.recorded_at < ?"
            " WHERE t.receiver_region IN " + _in(part)
            + " AND (SELECT CASE WHEN e.kind = 'delivered' THEN e.day END"
            " FROM {p}task_event e WHERE e.task_id = t.id"
            " AND e.kind <> 'confirmation_overdue' AND e.day <= ? AND e.recorded_at < ?"
            " ORDER BY e.position DESC LIMIT 1) <= ?",
            [w.day, w.known_before, *part, w.day, w.known_before, delivered_by]))
    return out


# -- pairing status board and the inactive list ----------------------------------------------------

def _pairing_filter(w: Window, region: str | None, organisation: str | None,
                    alias: str = "") -> tuple[str, list]:
    a = f"{alias}." if alias else ""
    sql = f"{a}day <= ? AND {a}recorded_at < ?"
    params: list[Any] = [w.day, w.known_before]
    bounds = region_bounds(region)
    if bounds:
        sql += (f" AND (({a}receiver_region >= ? AND {a}receiver_region < ?)"
                f" OR ({a}giver_region >= ? AND {a}giver_region < ?))")
        params += [*bounds, *bounds]
    if organisation:
        sql += f" AND ({a}giver_id = ? OR {a}receiver_id = ?)"
        params += [organisation, organisation]
    return sql, params


def _decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    region, sep, pairing_id = cursor.partition("|")
    if not sep:
        raise ReportError("cursor is not one this report handed out")
    return region, pairing_id


def board_items(facts: Facts, w: Window, rules: Thresholds = DEFAULT_RULES,
                region: str | None = None, organisation: str | None = None,
                cursor: str | None = None, first: int = CHUNK,
                follow_up_only: bool = False) -> Iterator[Any]:
    """Every visible pairing with its derived status and rule hits, in page order; with
    ``follow_up_only``, those with a hit that asks for follow-up (the inactive list).

    Pairings are read ``first`` at a time, then twice as many, up to ``CHUNK``: a page that
    takes every pairing (the board's) reads no more than it shows.  With
    ``follow_up_only`` the next read is sized by the share of pairings listed so far, to
    reach the ``first`` items a page wants without reading far past them."""
    items_of = _follow_up_chunk if follow_up_only else _board_chunk
    where, params = _pairing_filter(w, region, organisation)
    after = _decode_cursor(cursor)
    size = min(first, CHUNK)
    read = listed = 0
    while True:
        sql = "SELECT " + PAIRING_COLUMNS + " FROM {p}pairing WHERE " + where
        page_params = list(params)
        if after:
            sql += " AND (receiver_region > ? OR (receiver_region = ? AND id > ?))"
            page_params += [after[0], after[0], after[1]]
        sql += " ORDER BY receiver_region, id LIMIT ?"
        chunk = [PairingRow(*r) for r in facts.rows(sql, [*page_params, size])]
        if not chunk:
            return
        for item in items_of(facts, w, rules, chunk):
            listed += 1
            yield item
        if len(chunk) < size:
            return
        read += len(chunk)
        after = (chunk[-1].receiver_region, chunk[-1].id)
        if follow_up_only and listed:
            # As many as the share listed so far says hold the items still wanted, with no
            # margin: reading past them costs more than one more read (about 0.12 ms a
            # pairing against 0.5 ms a read at province scale, bench/bench_reports.py).
            # At least a quarter of the page, so that a share that was too high costs few
            # reads.
            wanted = first - listed if listed < first else first
            size = min(max(-(-wanted * read // listed), first // 4, 1), CHUNK)
        else:
            size = min(size * 2, CHUNK)


def follows_up(hits: list[RuleHit]) -> bool:
    """Whether a pairing belongs on the inactive list: a hit above R6's notes."""
    return any(h.severity != "info" for h in hits)


def _board_chunk(facts: Facts, w: Window, rules: Thresholds,
                 chunk: list[PairingRow]) -> Iterator[Any]:
    lives = lifecycles(facts, w, chunk)
    activities = activity_summaries(facts, w, [p.id for p in chunk], rules)
    outcomes = pairing_outcomes(facts, w, chunk)
    yield from _items(facts, w, rules, chunk, lives, activities, outcomes)


def _follow_up_chunk(facts: Facts, w: Window, rules: Thresholds,
                     chunk: list[PairingRow]) -> Iterator[Any]:
    """The items of ``chunk`` with a follow-up hit, reading commitments and service tasks
    (most of a page's rows) only for the pairings that can have one.

    Commitments and tasks only ever make a pairing's first publicised commitment earlier,
    its latest confirmed outcome later and its practical matters more, which can end an R1,
    R2 or R4 hit but start none; R3 never reads them.  What they can start is an R5 hit (a
    commitment open more than ``slow_overdue_days`` past its due date) or an R9 hit (a task
    delivered and not yet confirmed).  So an in-force pairing with no follow-up hit on its
    lifecycle and activities alone, no such commitment and no such task has none with all
    its facts either.  The queries for such commitments and tasks (one lookup per
    commitment, per task of the receivers) run only for the pairings without a hit so far:
    the others read all their commitments and tasks anyway."""
    lives = lifecycles(facts, w, chunk)
    in_force = [p for p in chunk if lifecycle_state(lives[p.id], w.as_of) == "in_force"]
    activities = activity_summaries(facts, w, [p.id for p in in_force], rules)
    no_outcomes = Outcomes({}, {})
    candidates = {p.id for p in in_force if follows_up(rule_hits(pairing_facts(
        lives[p.id], activities.get(p.id, ActivitySummary()), no_outcomes, w.as_of),
        w.as_of, rules))}
    candidates |= pairings_possibly_slow(
        facts, w, rules, [p.id for p in in_force if p.id not in candidates])
    rest = [p for p in in_force if p.id not in candidates]
    waiting = parties_with_delivery_waiting(
        facts, w, rules, sorted({p.receiver_region for p in rest}))
    candidates |= {p.id for p in rest if (p.giver_id, p.receiver_id) in waiting}
    listed = [p for p in in_force if p.id in candidates]
    outcomes = {p.id: Outcomes(defaultdict(int), defaultdict(int)) for p in listed}
    commitment_outcomes(facts, w, listed, outcomes)
    task_outcomes(facts, w, listed, outcomes)
    yield from (item for item in _items(facts, w, rules, listed, lives, activities, outcomes)
                if follows_up(item.rule_hits))


def _items(facts: Facts, w: Window, rules: Thresholds, chunk: list[PairingRow],
           lives: dict[str, Lifecycle], activities: dict[str, ActivitySummary],
           outcomes: dict[str, Outcomes]) -> Iterator[Any]:
    names = org_names(facts, [x for p in chunk for x in (p.giver_id, p.receiver_id)])
    proxied = proxy_activities(facts, w, [p.id for p in chunk])
    acts = proxy_entries(facts, w, [p.id for p in chunk])
    for p in chunk:
        own = [e for e in acts.get(p.id, ()) if e.activity_id is None]  # not its activities
        life = lives[p.id]
        activity = activities.get(p.id, ActivitySummary())
        pf = pairing_facts(life, activity, outcomes[p.id], w.as_of)
        hits = rule_hits(pf, w.as_of, rules)
        yield BoardItem.of(
            pairing_id=p.id, giver_id=p.giver_id, giver_name=names.get(p.giver_id, ""),
            receiver_id=p.receiver_id, receiver_name=names.get(p.receiver_id, ""),
            region_code=p.receiver_region, state=pf.state,
            status=derived_status(pf.state, hits), term_start=p.term_start,
            term_end=life.term_end.isoformat(),
            in_force_on=life.in_force_on.isoformat() if life.in_force_on else None,
            last_activity_on=activity.last_on.isoformat() if activity.last_on else None,
            cosigned_activities=activity.cosigned, backfilled_activities=activity.backfilled,
            proxy_activities=proxied.get(p.id, 0), entered_by_proxy=bool(own),
            proxy_entries=own,
            commitments=dict(sorted(outcomes[p.id].commitments.items())),
            tasks=dict(sorted(outcomes[p.id].tasks.items())),
            rule_hits=hits, rule_set_version=rules.version)


def page(items: Iterator[Any], limit: int) -> dict[str, Any]:
    """A page of board rows (``BoardItem``) as JSON, and the cursor after it."""
    out: list[Any] = []
    for item in items:
        out.append(item)
        if len(out) == limit + 1:
            break
    more = len(out) > limit
    out = out[:limit]
    next_cursor = f"{out[-1].region_code}|{out[-1].pairing_id}" if more and out else None
    return {"items": [BoardItem.json(i) for i in out], "next_cursor": next_cursor}


def pairings_report(db: ProjectionDatabase, w: Window, rules: Thresholds = DEFAULT_RULES,
                    region: str | None = None, organisation: str | None = None,
                    status: str | None = None, cursor: str | None = None,
                    limit: int = 50) -> dict[str, Any]:
    with open_facts(db) as facts:
        items = board_items(facts, w, rules, region, organisation, cursor, first=limit + 1)
        if status:
            items = (i for i in items if i.status == status)
        return {**page(items, limit), **w.as_dict(), "rule_set_version": rules.version}


def inactive_report(db: ProjectionDatabase, w: Window, rules: Thresholds = DEFAULT_RULES,
                    region: str | None = None, organisation: str | None = None,
                    cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
    """The 联而不动 list: pairings with a rule hit that asks for follow-up (not R6's notes)."""
    with open_facts(db) as facts:
        # How many pairings a page of this list needs is unknown: board_items sizes its reads
        # by the share listed so far.
        items = board_items(facts, w, rules, region, organisation, cursor, first=limit + 1,
                            follow_up_only=True)
        return {**page(items, limit), **w.as_dict(), "rule_set_version": rules.version}


# -- coverage -----------------------------------------------------------------------------------

def in_force_sql(w: Window, a: str = "p") -> tuple[str, list[Any]]:
    """``lifecycle_state(...) == "in_force"`` as a WHERE clause on the pairing row ``a``.

    The milestone columns decide it for pairings never suspended or renewed; the others
    look at their visible suspensions (the later of suspended/resumed wins) and renewals.
    The property tests hold this and ``domain.pairing_rules.lifecycle_state`` to one oracle."""
    sql = (f"{a}.day <= ? AND {a}.recorded_at < ?"
           f" AND {a}.accepted_day <= ? AND {a}.accepted_at < ?"
           f" AND {a}.signatures = 2 AND {a}.in_force_day <= ? AND {a}.in_force_at < ?"
           f" AND NOT ({a}.ended_day IS NOT NULL AND {a}.ended_day <= ? AND {a}.ended_at < ?)"
           f" AND ({a}.toggles = 0 OR COALESCE((SELECT e.kind FROM {{p}}pairing_event e"
           f" WHERE e.pairing_id = {a}.id AND e.kind IN ('suspended', 'resumed')"
           f" AND e.day <= ? AND e.recorded_at < ? ORDER BY e.position DESC LIMIT 1),"
           f" 'resumed') <> 'suspended')"
           f" AND (CASE WHEN {a}.renewals = 0 THEN {a}.term_end ELSE COALESCE("
           f"(SELECT MAX(e.value) FROM {{p}}pairing_event e WHERE e.pairing_id = {a}.id"
           f" AND e.kind = 'renewed' AND e.day <= ? AND e.recorded_at < ?), {a}.term_end) END)"
           f" >= ?")
    return sql, [w.day, w.known_before] * 6 + [w.day]


def child_region(region_code: str, region: str | None) -> str:
    """The next level below ``region`` that ``region_code`` falls in (2/4/6/9/12 digits)."""
    here = len(region or "")
    for level in (2, 4, 6, 9, 12):
        if level > here:
            return region_code[:level]
    return region_code


def child_level(region: str | None) -> int:
    return len(child_region("0" * 12, region))


RECEIVING_SQL = "('village', 'community')"


def coverage_report(db: ProjectionDatabase, w: Window, rules: Thresholds = DEFAULT_RULES,
                    region: str | None = None) -> dict[str, Any]:
    """Villages, weak villages and giving organisations per region, and who has no pairing.

    Weak: the latest collective income reported for a year up to ``as_of``'s year (a later
    report for the same year corrects an earlier one) is below the rule set's threshold."""
    bounds = region_bounds(region)
    threshold = int(rules.weak_income_yuan * 100)
    level = child_level(region)
    with open_facts(db) as facts:
        unsettled = unsettled_orgs(facts, w)
        counts, weak_list, agency_list = (
            _coverage_exact(facts, w, bounds, threshold, level) if unsettled is None else
            _coverage_settled(facts, w, bounds, threshold, level, unsettled))
    rows: dict[str, dict[str, Any]] = {}
    for key, receiving, paired, unknown, weak, n in counts:
        row = rows.get(key) or rows.setdefault(key, _coverage_row(key))
        if receiving:
            row["villages"] += n
            row["villages_paired"] += n * paired
            row["villages_income_unknown"] += n * unknown
            row["weak_villages"] += n * weak
            row["weak_villages_paired"] += n * (weak and paired)
        else:
            row["agencies"] += n
            row["agencies_paired"] += n * paired
    totals = _coverage_row(region or "")
    for row in rows.values():
        for name, value in row.items():
            if name != "region_code":
                totals[name] += value
    for listing in (weak_list, agency_list):
        listing.sort(key=lambda o: (o["region_code"], o["code"]))
    return {"items": [CoverageRow.json(_finish(r)) for _, r in sorted(rows.items())],
            "totals": CoverageRow.json(_finish(totals)),
            "weak_without_pairing": [WeakVillage.json(o) for o in weak_list],
            "agencies_without_village": [OrganisationRow.json(o) for o in agency_list],
            **w.as_dict(), "region": region or "", "rule_set_version": rules.version,
            "weak_income_yuan": str(rules.weak_income_yuan)}


# (region key, receiving, paired, income unknown, weak, how many: a row may take some off);
# the weak villages without a pairing and the giving organisations without one, as listed
# (``_unpaired``).
CoverageCounts = tuple[list[tuple], list[dict[str, Any]], list[dict[str, Any]]]


def _unpaired(org_id: str, code: str, name: str, kind: str, region_code: str,
              income: tuple[int, str] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"organisation_id": org_id, "code": code, "name": name, "kind": kind,
                           "region_code": region_code}
    if income is not None:
        row["income_year"], row["income_yuan"] = income
    return row


# A pairing whose state in a window may not be its latest state: a lifecycle fact of it dated
# after the window's day or recorded after its known_at, or a term in the latest state that
# ends before the day.  Every other pairing is in force in the window exactly when it is in
# the latest state (``live_end``); an organisation party to none of these is paired in the
# window exactly when ``live_pairings`` says so.  One condition per index.
UNSETTLED = ("changed_day > ?", "changed_at >= ?", "live_end < ?")


def unsettled_orgs(facts: Facts, w: Window, share: float = 0.25) -> set[str] | None:
    """The organisations party to a pairing unsettled in ``w`` (``UNSETTLED``), or None when
    more than ``share`` of the pairings are: counting every organisation exactly is then
    cheaper than looking these up by the hundred."""
    unsettled = " UNION ".join(
        f"SELECT id, giver_id, receiver_id FROM {{p}}pairing WHERE {c}" for c in UNSETTLED)
    params = [w.day, w.known_before, w.day]
    (count, pairings), = facts.rows(f"SELECT (SELECT COUNT(*) FROM ({unsettled}) u),"
                                    " (SELECT COUNT(*) FROM {p}pairing)", params)
    if count > pairings * share:
        return None
    return {org for _, *pair in facts.rows(unsettled, params) for org in pair}


# The window's latest visible income report of ``o``: the latest report overall whenever the
# window sees it (and its year is not after as_of's), otherwise the latest one it does see.
_FRESH_INCOME = "o.income_year <= ? AND o.income_day <= ? AND o.income_at < ?"
_SEEN_INCOME = ("(SELECT i.{column} FROM {{p}}income i WHERE i.org_id = o.id AND i.year <= ?"
                " AND i.day <= ? AND i.recorded_at < ? ORDER BY i.year DESC, i.position DESC"
                " LIMIT 1)")


def _income_sql(w: Window, column: str) -> tuple[str, list[Any]]:
    """The window's income ``column`` (year, amount or fen) of the organisation ``o``."""
    seen = {"fen": "amount_fen"}.get(column, column)
    window = [w.as_of.year, w.day, w.known_before]
    return (f"CASE WHEN o.income_year IS NULL THEN NULL WHEN {_FRESH_INCOME} THEN o.income_{column}"
            f" ELSE {_SEEN_INCOME.format(column=seen)} END", window * 2)


def _visible_orgs(w: Window, bounds: tuple[str, str] | None) -> tuple[str, list[Any]]:
    """The organisations ``o`` registered and not dissolved in ``w``, within ``bounds``."""
    sql = ("o.day <= ? AND o.recorded_at < ?"
           " AND NOT (o.dissolved_day IS NOT NULL AND o.dissolved_day <= ? AND o.dissolved_at < ?)")
    params = [w.day, w.known_before, w.day, w.known_before]
    if bounds:
        sql += " AND o.region_code >= ? AND o.region_code < ?"
        params += list(bounds)
    return sql, params


def _coverage_settled(facts: Facts, w: Window, bounds: tuple[str, str] | None, threshold: int,
                      level: int, unsettled: set[str]) -> CoverageCounts:
    """Coverage counted in SQL from the latest state (``live_pairings``, the latest income
    report) wherever it is the state in ``w``, and exactly (``_coverage_exact``) for the
    rest: the ``unsettled`` organisations (``unsettled_orgs``) and those whose latest income
    report ``w`` does not see.  The unsettled ones are counted in SQL too, then taken off:
    a list of ids to leave out would cost more than counting them twice."""
    visible, visible_params = _visible_orgs(w, bounds)
    window = [w.as_of.year, w.day, w.known_before]
    fresh = f"(o.income_year IS NULL OR ({_FRESH_INCOME}))"
    stale = [r for r, in facts.rows(
        "SELECT o.id FROM {p}org o WHERE " + visible + f" AND NOT {fresh}",
        [*visible_params, *window])]
    receiving = f"o.kind IN {RECEIVING_SQL}"
    # One key besides the region (receiving, paired, income unknown or weak): each key
    # more costs SQLite's sorter about as much as the scan.
    by_key = (f"SELECT substr(o.region_code, 1, ?), CASE WHEN {receiving} THEN 4 ELSE 0 END"
              " + CASE WHEN o.live_pairings > 0 THEN 2 ELSE 0 END"
              " + CASE WHEN o.income_fen IS NULL THEN 8 WHEN o.income_fen < ? THEN 1 ELSE 0 END,"
              " COUNT(*) FROM {p}org o WHERE " + visible + f" AND {fresh}{{among}} GROUP BY 1, 2")
    key_params = [level, threshold, *visible_params, *window]
    coded = [(region, code, n) for region, code, n in facts.rows(
        by_key.replace("{among}", ""), key_params)]
    ids = sorted(unsettled)
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        coded += [(region, code, -n) for region, code, n in facts.rows(
            by_key.replace("{among}", " AND o.id IN " + _in(part)), [*key_params, *part])]
    counts = [(region, bool(code & 4), bool(code & 2), bool(code & 8), bool(code & 1), n)
              for region, code, n in coded]
    exact = _coverage_exact(facts, w, bounds, threshold, level,
                            among=sorted(unsettled.union(stale)))
    weak_without, agencies_without = exact[1], exact[2]
    for org_id, code, name, kind, region_code, is_receiving, year, amount in facts.rows(
            f"SELECT o.id, o.code, o.name, o.kind, o.region_code, {receiving}, o.income_year,"
            f" o.income_amount FROM {{p}}org o WHERE o.live_pairings = 0 AND {visible}"
            f" AND {fresh} AND (NOT {receiving} OR o.income_fen < ?)",
            [*visible_params, *window, threshold]):
        if org_id in unsettled:
            continue
        if is_receiving:
            weak_without.append(_unpaired(org_id, code, name, kind, region_code, income=(year, amount)))
        else:
            agencies_without.append(_unpaired(org_id, code, name, kind, region_code))
    return counts + exact[0], weak_without, agencies_without


def _coverage_exact(facts: Facts, w: Window, bounds: tuple[str, str] | None, threshold: int,
                    level: int, among: list[str] | None = None) -> CoverageCounts:
    """Coverage for any window, from the facts' dates and recorded times; of the
    organisations ``among`` only, if given."""
    visible, visible_params = _visible_orgs(w, bounds)
    income = [_income_sql(w, column) for column in ("year", "amount", "fen")]
    orgs = ("SELECT o.id, o.kind, o.region_code, o.code, o.name, "
            + ", ".join(column for column, _ in income) + " FROM {p}org o WHERE " + visible)
    org_params = [*(p for _, ps in income for p in ps), *visible_params]
    pairings, pairing_params = in_force_sql(w)
    pairings = "SELECT p.receiver_id, p.giver_id FROM {p}pairing p WHERE " + pairings
    if bounds:
        pairings += (" AND ((p.receiver_region >= ? AND p.receiver_region < ?)"
                     " OR (p.giver_region >= ? AND p.giver_region < ?))")
        pairing_params += [*bounds, *bounds]
    if among is None:
        rows, pairs = facts.rows(orgs, org_params), facts.rows(pairings, pairing_params)
    else:
        # Only whether these organisations are paired matters: their pairings, by index.
        rows, pairs = [], []
        for start in range(0, len(among), 900):
            part = among[start:start + 900]
            rows += facts.rows(orgs + " AND o.id IN " + _in(part), [*org_params, *part])
            pairs += facts.rows(
                pairings + " AND p.receiver_id IN " + _in(part) + " UNION ALL " + pairings
                + " AND p.giver_id IN " + _in(part),
                [*pairing_params, *part, *pairing_params, *part])
    paired_orgs = {org for pair in pairs for org in pair}
    counts: dict[tuple, int] = defaultdict(int)
    weak_without: list[dict[str, Any]] = []
    agencies_without: list[dict[str, Any]] = []
    for org_id, kind, region_code, code, name, year, amount, fen in rows:
        paired = org_id in paired_orgs
        receiving = kind in RECEIVING_KINDS
        weak = fen is not None and fen < threshold
        counts[(region_code[:level], receiving, paired, fen is None, weak)] += 1
        if receiving and weak and not paired:
            weak_without.append(_unpaired(org_id, code, name, kind, region_code, (year, amount)))
        elif not receiving and not paired:
            agencies_without.append(_unpaired(org_id, code, name, kind, region_code))
    return [(*key, n) for key, n in counts.items()], weak_without, agencies_without


def _coverage_row(region_code: str) -> dict[str, Any]:
    return {"region_code": region_code, "villages": 0, "villages_paired": 0,
            "villages_income_unknown": 0, "weak_villages": 0, "weak_villages_paired": 0,
            "agencies": 0, "agencies_paired": 0}


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    weak = row["weak_villages"]
    row["weak_coverage"] = round(row["weak_villages_paired"] / weak, 4) if weak else None
    return row


# -- inbox --------------------------------------------------------------------------------------

def inbox_report(db: ProjectionDatabase, w: Window, organisation: str) -> dict[str, Any]:
    """What waits on one organisation: answers only it can give."""
    items: list[Any] = []
    with open_facts(db) as facts:
        where, params = _pairing_filter(w, None, organisation)
        chunk = [PairingRow(*r) for r in facts.rows(
            "SELECT " + PAIRING_COLUMNS + " FROM {p}pairing WHERE " + where
            + " ORDER BY receiver_region, id", params)]
        lives = _lifecycles_bulk(facts, w, chunk)
        signed = signatures_by_side(facts, w, [p.id for p in chunk])
        names = org_names(facts, [x for p in chunk for x in (p.giver_id, p.receiver_id)])
        live = []
        for p in chunk:
            side = "giver" if p.giver_id == organisation else "receiver"
            other = names.get(p.receiver_id if side == "giver" else p.giver_id, "")
            state = lifecycle_state(lives[p.id], w.as_of)
            if state == "proposed" and side == "receiver":
                items.append(_task("accept_pairing", p, other, p.term_start))
            elif state == "accepted" and side not in signed.get(p.id, set()):
                items.append(_task("sign_agreement", p, other, None))
            elif state == "in_force":
                live.append((p, side, other))
        items += _pending_activities(facts, w, live)
        items += _pending_confirmations(facts, w, organisation)
        items += _followups_to_answer(facts, w, organisation)
        items += _ratings_to_give(facts, w, organisation, chunk, lives, names)
        if gives(facts, organisation):
            items += _needs_to_claim(facts, w, organisation)
        items = _with_proxy_entries(facts, w, items)
    return {"items": [InboxItem.json(i) for i in items], "organisation_id": organisation,
            **w.as_dict()}


def _task(kind: str, p: PairingRow, other: str, since: str | None, **extra: Any) -> Any:
    return InboxItem.some(kind=kind, pairing_id=p.id, counterpart=other, since=since, **extra)


def _ratings_to_give(facts: Facts, w: Window, organisation: str, pairings: list[PairingRow],
                     lives: dict[str, Lifecycle], names: dict[str, str]) -> list[Any]:
    """Rounds taking joint ratings in which this organisation has not yet rated the other
    side of a pairing that was in force in the round's year (结果联评)."""
    rounds = facts.rows(
        "SELECT id, year, region, day FROM {p}evaluation_round WHERE state IN "
        + _in(list(RATING_STATES)) + " AND day <= ? AND recorded_at < ? ORDER BY day, id",
        [*RATING_STATES, w.day, w.known_before])
    if not rounds:
        return []
    rated = {(r, p, side) for r, p, side in facts.rows(
        "SELECT round_id, pairing_id, side FROM {p}evaluation_rating WHERE recorded_at < ?"
        " AND round_id IN " + _in([r[0] for r in rounds]), [w.known_before, *[r[0] for r in rounds]])}
    out = []
    for round_id, year, region, day in rounds:
        for p in pairings:
            life = lives[p.id]
            if life.in_force_on is None or life.in_force_on.year > year:
                continue
            if not (p.receiver_region.startswith(region) or p.giver_region.startswith(region)):
                continue
            side = "giver" if p.giver_id == organisation else "receiver"
            if (round_id, p.id, side) in rated:
                continue
            other = names.get(p.receiver_id if side == "giver" else p.giver_id, "")
            out.append(_task("rate_pairing", p, other, day, evaluation_id=round_id, year=year))
    return out


def _followups_to_answer(facts: Facts, w: Window, organisation: str) -> list[Any]:
    """Cases open at the end of the day with no answer from the responsible organisation."""
    cases = facts.rows(
        "SELECT id, rule, subject_type, subject_id, severity, day FROM {p}followup"
        " WHERE responsible_id = ? AND day <= ? AND recorded_at < ?"
        " AND NOT (closed_day IS NOT NULL AND closed_day <= ? AND closed_at < ?)"
        " ORDER BY day, id", [organisation, w.day, w.known_before, w.day, w.known_before])
    steps = _followup_steps(facts, w, [c[0] for c in cases])
    out = []
    for case_id, rule, subject_type, subject_id, severity, day in cases:
        answered, latest, _ = steps.get(case_id, (None, None, None))
        if answered:
            continue
        out.append(InboxItem.some(
            kind="answer_followup", followup_id=case_id, rule=rule,
            title=labels.FOLLOWUP_REASONS.get(rule, rule), severity=latest or severity,
            subject_type=subject_type, subject_id=subject_id, since=day))
    return out


def _needs_to_claim(facts: Facts, w: Window, giver: str) -> list[Any]:
    """Open and pooled needs of the villages ``giver`` is paired with (the pool as a whole is
    in the task report: the inbox lists what is this organisation's to take up)."""
    partners = sorted(partners_in_force(facts, w, giver))
    if not partners:
        return []
    names = org_names(facts, partners)
    return [InboxItem.some(kind="claim_need", task_id=row.id, title=row.title,
                           counterpart=names.get(row.receiver_id, ""), since=row.day)
            for row, t in tasks_where(facts, w, "receiver_id IN " + _in(partners), partners)
            if t.state in CLAIMABLE]


# The items about the pairing itself (its acts, not its activities').
PAIRING_ACTS = ("accept_pairing", "sign_agreement")


def _with_proxy_entries(facts: Facts, w: Window, items: list[Any]) -> list[Any]:
    """代录 of what each item is about: the pairing to accept or sign (its proposal, the
    other signature), the activity to co-sign, the commitment, the task."""
    def subject(i: Any) -> str | None:
        return i.commitment_id or i.task_id or (
            i.pairing_id if i.activity_id or i.kind in PAIRING_ACTS else None)

    proxies = proxy_entries(facts, w, [s for i in items if (s := subject(i))])
    out = []
    for i in items:
        about = subject(i)
        # Of a pairing's entries: the activity's, or the pairing's own acts (no activity).
        entries = [e for e in proxies.get(about or "", ())
                   if about != i.pairing_id or e.activity_id == i.activity_id]
        out.append(i._replace(entered_by_proxy=bool(entries), proxy_entries=entries))
    return out


def _pending_activities(facts: Facts, w: Window, live) -> list[Any]:
    if not live:
        return []
    sides = {p.id: (p, side, other) for p, side, other in live}
    ids = list(sides)
    out = []
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        rows = facts.rows(
            "SELECT pairing_id, activity_id, kind, title, recorded_by, day FROM {p}activity"
            " WHERE day <= ? AND recorded_at < ?"
            " AND NOT (cosigned_day IS NOT NULL AND cosigned_day <= ? AND cosigned_at < ?)"
            " AND NOT (contested_day IS NOT NULL AND contested_day <= ? AND contested_at < ?)"
            " AND pairing_id IN " + _in(part) + " ORDER BY day, activity_id",
            [w.day, w.known_before, w.day, w.known_before, w.day, w.known_before, *part])
        for pairing_id, activity_id, kind, title, recorded_by, day in rows:
            p, side, other = sides[pairing_id]
            if recorded_by != side:
                out.append(_task("cosign_activity", p, other, day, activity_id=activity_id,
                                 activity_kind=kind, title=title))
    return out


def _pending_confirmations(facts: Facts, w: Window, organisation: str) -> list[Any]:
    """Claims of fulfilment and deliveries that only this organisation can confirm."""
    out = []
    found = commitments_where(facts, w, "(giver_id = ? OR receiver_id = ?)",
                              [organisation, organisation])
    for row, c in found:
        beneficiary = row.receiver_id if row.made_by == "giver" else row.giver_id
        if c.state == "claimed" and beneficiary == organisation:
            out.append(InboxItem.some(kind="confirm_fulfilment", pairing_id=row.pairing_id,
                                      commitment_id=row.id, content=row.content,
                                      since=_d(c.claimed_on)))
    for task, t in tasks_where(facts, w, "receiver_id = ?", [organisation]):
        if t.state == "delivered":
            out.append(InboxItem.some(kind="confirm_delivery", task_id=task.id, title=task.title,
                                      since=_d(t.delivered_on)))
    return out


# -- evaluation -------------------------------------------------------------------------------

def evaluation_report(db: ProjectionDatabase, year: int, w: Window | None = None,
                      rules: Thresholds = DEFAULT_RULES, region: str | None = None,
                      organisation: str | None = None) -> dict[str, Any]:
    """五好 points per pairing and per organisation for ``year``, from confirmed facts only.

    ``as_of`` defaults to the year's last day; a later ``as_of`` lets confirmations made
    after the year end count for facts of the year."""
    w = w or Window(date(year, 12, 31))
    year_start, year_end = date(year, 1, 1), date(year, 12, 31)
    until = min(w.as_of, year_end)
    per_pairing: list[dict[str, Any]] = []
    with open_facts(db) as facts:
        where, params = _pairing_filter(w, region, organisation)
        pairings = [PairingRow(*r) for r in facts.rows(
            "SELECT " + PAIRING_COLUMNS + " FROM {p}pairing WHERE " + where
            + " ORDER BY receiver_region, id", params)]
        names = org_names(facts, [x for p in pairings for x in (p.giver_id, p.receiver_id)])
        for start in range(0, len(pairings), 900):
            chunk = pairings[start:start + 900]
            lives = lifecycles(facts, w, chunk)
            yearly = _year_activities(facts, w, [p.id for p in chunk], year_start, year_end)
            results = _year_outcomes(facts, w, chunk, year)
            for p in chunk:
                life = lives[p.id]
                if life.in_force_on is None or life.in_force_on > until:
                    continue
                if lifecycle_state(life, year_start) in ("declined", "terminated", "expired"):
                    continue
                inputs = scoring.YearFacts(
                    in_force_on=life.in_force_on, until=until,
                    activities=yearly.get(p.id, []), **results.get(p.id, {}))
                result = scoring.score(inputs, year, rules)
                per_pairing.append({
                    "pairing_id": p.id, "giver_id": p.giver_id,
                    "giver_name": names.get(p.giver_id, ""), "receiver_id": p.receiver_id,
                    "receiver_name": names.get(p.receiver_id, ""),
                    "region_code": p.receiver_region, **result})
    per_org = scoring.per_organisation(per_pairing, names, rules)
    if organisation:
        per_org = [o for o in per_org if o["organisation_id"] == organisation]
    return {"items": [PairingScore.json(i) for i in per_pairing],
            "organisations": [OrganisationScore.json(o) for o in per_org], "year": year,
            **w.as_dict(),
            "rule_set_version": rules.version}


def _year_outcomes(facts: Facts, w: Window, chunk: list[PairingRow],
                   year: int) -> dict[str, dict[str, Any]]:
    """Confirmed commitments and tasks of ``year`` per pairing, as scoring counts them."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "commitments_due": 0, "commitments_kept_on_time": 0,
        "practical_commitments_confirmed": 0, "tasks_claimed": 0, "tasks_confirmed": 0,
        "satisfaction": ()})
    ids = [p.id for p in chunk]
    for row, c in commitments_where(facts, w, "pairing_id IN " + _in(ids), ids):
        o = out[row.pairing_id]
        if c.publicised_on is not None and c.original_due_on.year == year:
            o["commitments_due"] += 1
            o["commitments_kept_on_time"] += c.kept_on_time
        if row.category == "practical_matter" and c.fulfilled_on and c.fulfilled_on.year == year:
            o["practical_commitments_confirmed"] += 1
    by_parties = pairings_by_parties(chunk)
    receivers = sorted({p.receiver_id for p in chunk})
    for task, t in tasks_where(facts, w, "receiver_id IN " + _in(receivers), receivers):
        if t.claimer_id is None or t.claimed_on is None or t.claimed_on.year > year:
            continue
        for pairing_id in by_parties.get((t.claimer_id, task.receiver_id), ()):
            o = out[pairing_id]
            if t.state != "cancelled":
                o["tasks_claimed"] += 1
            if t.confirmed_on and t.confirmed_on.year == year:
                o["tasks_confirmed"] += 1
                if t.level:
                    o["satisfaction"] = (*o["satisfaction"], t.level)
    return out


def _year_activities(facts: Facts, w: Window, ids: list[str], start: date,
                     end: date) -> dict[str, list[scoring.Activity]]:
    if not ids:
        return {}
    rows = facts.rows(
        "SELECT pairing_id, kind, recorded_by, day, lag_days FROM {p}activity WHERE "
        + COSIGNED + " AND day >= ? AND day <= ? AND pairing_id IN " + _in(ids),
        [w.day, w.known_before, w.day, w.known_before, start.isoformat(), end.isoformat(), *ids])
    out: dict[str, list[scoring.Activity]] = defaultdict(list)
    for pairing_id, kind, recorded_by, day, lag in rows:
        out[pairing_id].append(scoring.Activity(kind, recorded_by, date.fromisoformat(day), lag))
    return out


# -- commitment ledger (承诺台账) and task pipeline (项目清单) ----------------------------------------

def _item_filter(region: str | None, organisation: str | None, parties: tuple[str, ...],
                 cursor: str | None) -> tuple[str, list[Any]]:
    sql, params = "1 = 1", []
    bounds = region_bounds(region)
    if bounds:
        sql += " AND receiver_region >= ? AND receiver_region < ?"
        params += list(bounds)
    if organisation:
        sql += " AND (" + " OR ".join(f"{c} = ?" for c in parties) + ")"
        params += [organisation] * len(parties)
    after = _decode_cursor(cursor)
    if after:
        sql += " AND (receiver_region > ? OR (receiver_region = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    return sql, params


def _page_rows(row: type[Row], items: list[Any], limit: int) -> dict[str, Any]:
    """A page of ``row`` tuples (with ``region_code`` and ``id``) as JSON, and the cursor."""
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if more and items else None
    return {"items": [row.json(i) for i in items],
            "next_cursor": f"{last.region_code}|{last.id}" if last else None}


def commitments_report(db: ProjectionDatabase, w: Window, region: str | None = None,
                       organisation: str | None = None, cursor: str | None = None,
                       limit: int = 500) -> dict[str, Any]:
    where, params = _item_filter(region, organisation, ("giver_id", "receiver_id"), cursor)
    with open_facts(db) as facts:
        found = commitments_where(facts, w, where, params, limit + 1)
        names = org_names(facts, [x for r, _ in found for x in (r.giver_id, r.receiver_id)])
        proxies = proxy_entries(facts, w, [r.id for r, _ in found])
    items = []
    for r, c in found:
        maker, beneficiary = ((r.giver_id, r.receiver_id) if r.made_by == "giver"
                              else (r.receiver_id, r.giver_id))
        items.append(CommitmentItem.of(
            id=r.id, pairing_id=r.pairing_id, region_code=r.receiver_region,
            maker_id=maker, maker_name=names.get(maker, ""),
            beneficiary_id=beneficiary, beneficiary_name=names.get(beneficiary, ""),
            category=r.category, content=r.content, quantity=r.quantity,
            unit=r.unit, amount_yuan=r.amount_yuan, made_on=r.day,
            publicised_on=_d(c.publicised_on), original_due_on=_d(c.original_due_on),
            due_on=_d(c.due_on), extensions=c.extensions, claimed_on=_d(c.claimed_on),
            fulfilled_on=_d(c.fulfilled_on), abandoned_on=_d(c.abandoned_on),
            state=c.shown_state(w.as_of),
            kept_on_time=c.kept_on_time if c.fulfilled_on else None,
            days_overdue=(w.as_of - c.due_on).days if c.overdue_since(w.as_of) else 0,
            outcome=c.outcome, backfilled=r.lag_days > DEFAULT_RULES.backfill_days,
            entered_by_proxy=r.id in proxies, proxy_entries=proxies.get(r.id, []),
        ))
    return {**_page_rows(CommitmentItem, items, limit), **w.as_dict()}


CLAIMABLE = ("open", "pooled")


def partners_in_force(facts: Facts, w: Window, giver: str) -> set[str]:
    """The receivers ``giver`` has a pairing in force with on ``w``'s day."""
    where, params = in_force_sql(w)
    return {r[0] for r in facts.rows(
        "SELECT p.receiver_id FROM {p}pairing p WHERE p.giver_id = ? AND " + where,
        [giver, *params])}


def gives(facts: Facts, organisation: str) -> bool:
    row = facts.rows("SELECT kind FROM {p}org WHERE id = ?", [organisation])
    return bool(row) and row[0][0] in GIVING_KINDS


def tasks_report(db: ProjectionDatabase, w: Window, region: str | None = None,
                 organisation: str | None = None, cursor: str | None = None,
                 limit: int = 500) -> dict[str, Any]:
    """Every task in scope.  An organisation sees its own needs and the tasks it claimed;
    a giving one also the needs it may claim: the open needs of the villages it is paired
    with, and the pool (DESIGN §11)."""
    with open_facts(db) as facts:
        partners: set[str] = set()
        claims = organisation is not None and gives(facts, organisation)
        where, params = _item_filter(region, None, (), None)
        if organisation:
            where += (" AND (receiver_id = ? OR id IN (SELECT task_id FROM {p}task_event"
                      " WHERE giver_id = ?)")
            params += [organisation, organisation]
            if claims:
                partners = partners_in_force(facts, w, organisation)
                where += (" OR receiver_id IN " + _in(sorted(partners)) if partners else "")
                where += " OR id IN (SELECT task_id FROM {p}task_event WHERE kind = 'pooled')"
            where += ")"

        def shown(r: TaskRow, t: TaskState) -> bool:
            # Claimed once and withdrawn: no longer this giver's task.
            return (organisation is None or organisation in (r.receiver_id, t.claimer_id)
                    or (claims and (t.state == "pooled"
                                    or (t.state in CLAIMABLE and r.receiver_id in partners))))

        found: list[tuple[TaskRow, TaskState]] = []
        after = cursor
        while len(found) <= limit:
            more_where, more_params = where, [*params, *(sorted(partners) if claims and partners else [])]
            if after:
                region_after, task_after = _decode_cursor(after) or ("", "")
                more_where += " AND (receiver_region > ? OR (receiver_region = ? AND id > ?))"
                more_params += [region_after, region_after, task_after]
            batch = tasks_where(facts, w, more_where, more_params, limit + 1)
            found += [(r, t) for r, t in batch if shown(r, t)]
            if len(batch) <= limit:
                break
            after = f"{batch[-1][0].receiver_region}|{batch[-1][0].id}"
        names = org_names(facts, [x for r, t in found for x in (r.receiver_id, t.claimer_id) if x])
        proxies = proxy_entries(facts, w, [r.id for r, _ in found])
    items = [TaskItem.of(
        id=r.id, region_code=r.receiver_region, receiver_id=r.receiver_id,
        receiver_name=names.get(r.receiver_id, ""), category=r.category,
        title=r.title, raised_on=r.day, wanted_by=r.wanted_by,
        claimer_id=t.claimer_id, claimer_name=names.get(t.claimer_id or "", ""),
        claimed_on=_d(t.claimed_on), due_on=_d(t.due_on),
        delivered_on=_d(t.delivered_on), value_yuan=t.value_yuan,
        confirmed_on=_d(t.confirmed_on), satisfaction=t.level, state=t.state,
        confirmation_overdue=t.confirmation_overdue, rejections=t.rejections,
        backfilled=r.lag_days > DEFAULT_RULES.backfill_days,
        entered_by_proxy=r.id in proxies, proxy_entries=proxies.get(r.id, []),
    ) for r, t in found]
    return {**_page_rows(TaskItem, items, limit), **w.as_dict()}


def _d(value: date | None) -> str | None:
    return value.isoformat() if value else None


# -- follow-up list (督办) ------------------------------------------------------------------------

AGE_BANDS = (("days_0_30", 30), ("days_31_90", 90), ("days_over_90", None))


def followups_report(db: ProjectionDatabase, w: Window, region: str | None = None,
                     cursor: str | None = None, limit: int = 500) -> dict[str, Any]:
    """Cases open at the end of ``as_of``, by the responsible organisation's region and age.

    A case is open from the day it was opened until the day it was closed; it shows the last
    severity and whether the responsible organisation has answered, as visible in the window."""
    bounds = region_bounds(region)
    sql = ("SELECT id, subject_type, subject_id, rule, responsible_id, responsible_region,"
           " severity, day FROM {p}followup WHERE day <= ? AND recorded_at < ?"
           " AND NOT (closed_day IS NOT NULL AND closed_day <= ? AND closed_at < ?)")
    params: list[Any] = [w.day, w.known_before, w.day, w.known_before]
    if bounds:
        sql += " AND responsible_region >= ? AND responsible_region < ?"
        params += list(bounds)
    level = child_level(region)
    by_region: dict[str, dict[str, Any]] = {}
    items: list[tuple] = []
    after = _decode_cursor(cursor)
    with open_facts(db) as facts:
        cases = facts.rows(sql + " ORDER BY responsible_region, id", params)
        steps = _followup_steps(facts, w, [c[0] for c in cases])
        for case_id, subject_type, subject_id, rule, responsible, region_code, severity, day in cases:
            answered, latest, response = steps.get(case_id, (None, None, None))
            age = (w.as_of - date.fromisoformat(day)).days
            state = "responded" if answered else "open"
            severity = latest or severity
            row = by_region.setdefault(region_code[:level], {
                "region_code": region_code[:level], "open": 0, "responded": 0, "red": 0,
                **{band: 0 for band, _ in AGE_BANDS}})
            row[state] += 1
            row["red"] += severity == "red"
            row[next(band for band, top in AGE_BANDS if top is None or age <= top)] += 1
            if after and (region_code, case_id) <= after:
                continue
            items.append((case_id, region_code, rule, subject_type, subject_id, responsible,
                          severity, state, day, age, answered, response))
        names = org_names(facts, [i[5] for i in items[:limit + 1]])
    rows = [FollowUpItem.of(
        id=case_id, region_code=region_code, rule=rule, subject_type=subject_type,
        subject_id=subject_id, responsible_id=responsible,
        responsible_name=names.get(responsible, ""), severity=severity, state=state,
        opened_on=day, age_days=age, responded_on=answered, response=response)
        for case_id, region_code, rule, subject_type, subject_id, responsible, severity, state,
        day, age, answered, response in items[:limit + 1]]
    totals = {"region_code": region or "", **{k: sum(r[k] for r in by_region.values())
                                               for k in ("open", "responded", "red",
                                                         *(b for b, _ in AGE_BANDS))}}
    return {**_page_rows(FollowUpItem, rows, limit),
            "by_region": [FollowUpRegion.json(r) for _, r in sorted(by_region.items())],
            "totals": FollowUpRegion.json(totals), **w.as_dict(), "region": region or ""}


def _followup_steps(facts: Facts, w: Window,
                    ids: list[str]) -> dict[str, tuple[str | None, str | None, str | None]]:
    """Per case: the day of its first visible answer, its latest visible severity, and the
    text of its latest visible answer."""
    out: dict[str, tuple[str | None, str | None, str | None]] = {}
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        for case_id, kind, day, value, text in facts.rows(
                "SELECT case_id, kind, day, value, text FROM {p}followup_event WHERE day <= ?"
                " AND recorded_at < ? AND case_id IN " + _in(part) + " ORDER BY position",
                [w.day, w.known_before, *part]):
            answered, severity, response = out.get(case_id, (None, None, None))
            if kind == "responded":
                answered, response = answered or day, text
            else:
                severity = value
            out[case_id] = (answered, severity, response)
    return out


# -- organisations found by name, and the accounts of a region ----------------------------------

def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, lower-cased, wildcards taken literally."""
    escaped = text.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def find_organisations(db: ProjectionDatabase, q: str | None = None, kind: str | None = None,
                       region: str | None = None, cursor: str | None = None, limit: int = 50,
                       weak_income_yuan: int | None = None) -> dict[str, Any]:
    """Organisations (not dissolved) whose name or code contains ``q``, in region order.

    With ``weak_income_yuan``, each village says whether its latest reported collective
    income is below it (``weak``, None when never reported) with that income; without it,
    no income is disclosed."""
    sql = "dissolved_day IS NULL"
    params: list[Any] = []
    if q:
        sql += " AND (LOWER(name) LIKE ? ESCAPE '!' OR LOWER(code) LIKE ? ESCAPE '!')"
        params += [_like(q), _like(q)]
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    bounds = region_bounds(region)
    if bounds:
        sql += " AND region_code >= ? AND region_code < ?"
        params += list(bounds)
    after = _decode_cursor(cursor)
    if after:
        sql += " AND (region_code > ? OR (region_code = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    with open_facts(db) as facts:
        rows = facts.rows(
            "SELECT id, code, name, kind, region_code, income_year, income_amount, income_fen"
            " FROM {p}org WHERE " + sql + " ORDER BY region_code, id LIMIT ?", [*params, limit + 1])
        named = _named(facts, [a for row in rows[:limit] for a in ancestors(row[4])])
    items = []
    for org_id, code, name, kind_, region_code, year, amount, fen in rows[:limit]:
        item: dict[str, Any] = {"id": org_id, "code": code, "name": name, "kind": kind_,
                                "region_code": region_code}
        where = next((named[a] for a in ancestors(region_code) if a in named), None)
        if where is not None:
            item["region_name"] = where
        if weak_income_yuan is not None and kind_ in RECEIVING_KINDS:
            item["weak"] = None if fen is None else fen < weak_income_yuan * 100
            item["income_year"] = year
            item["income_yuan"] = amount
        items.append(item)
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": items, "next_cursor": f"{last[4]}|{last[0]}" if last else None}


# -- divisions (区划) by name ------------------------------------------------------------------

def _named(facts: Facts, codes: Iterable[str]) -> dict[str, str]:
    """The recorded names of these division codes (a primary-key lookup per code)."""
    wanted = sorted(set(codes))
    out: dict[str, str] = {}
    for at in range(0, len(wanted), 500):  # within every database's limit on parameters
        chunk = wanted[at:at + 500]
        out.update(facts.rows("SELECT code, name FROM {p}region WHERE code IN ("
                              + ", ".join("?" * len(chunk)) + ")", chunk))
    return out


def region_names(db: ProjectionDatabase, codes: Iterable[str]) -> dict[str, str]:
    """The name of each division code that has one (codes at their level: 2-12 digits)."""
    with open_facts(db) as facts:
        return _named(facts, codes)


def names_or_above(db: ProjectionDatabase, codes: Iterable[str]) -> dict[str, str]:
    """For each division code (2-12 digits), its own name, else its nearest named
    ancestor's; codes with neither are left out.  One primary-key lookup per candidate."""
    wanted = {code: [code, *(a for a in ancestors(code.ljust(12, "0")) if len(a) < len(code))]
              for code in set(codes) if code}
    with open_facts(db) as facts:
        names = _named(facts, [c for chain in wanted.values() for c in chain])
    out = {}
    for code, chain in wanted.items():
        found = next((names[c] for c in chain if c in names), None)
        if found is not None:
            out[code] = found
    return out


def region_name_of(db: ProjectionDatabase, region_code: str) -> str | None:
    """The name of the division itself, else of its nearest named ancestor."""
    return names_or_above(db, [region_code]).get(region_code)


def townships_with_villages(db: ProjectionDatabase, region: str | None) -> list[str]:
    """The 9-digit townships under ``region`` where a village or community (not dissolved)
    is registered, in code order.  One index seek per township (a skip scan of the region
    index), however many villages each has."""
    bounds = region_bounds(region) or ("", ":")
    first = ("SELECT substr(region_code, 1, 9) FROM {p}org WHERE region_code >= {low}"
             " AND region_code < ? AND kind IN ('village', 'community') AND dissolved_day IS NULL"
             " AND length(region_code) = 12 ORDER BY region_code LIMIT 1")
    sql = ("WITH RECURSIVE t(code) AS (SELECT (" + first.format(p="{p}", low="?") + ")"
           " UNION ALL SELECT (" + first.format(p="{p}", low="t.code || ':'") + ") FROM t"
           " WHERE t.code IS NOT NULL) SELECT code FROM t WHERE code IS NOT NULL")
    with open_facts(db) as facts:
        rows = facts.rows(sql, [bounds[0], bounds[1], bounds[1]])
    return [code for (code,) in rows if code[6:9] != "000"]


def child_regions(db: ProjectionDatabase, parent: str | None, level: str) -> list[dict[str, Any]]:
    """The named divisions of ``level`` (``township``, ...) under ``parent`` (a code prefix,
    or everywhere), in code order: a range on the (level, code) index."""
    if level not in LEVEL_DIGITS:
        raise ReportError(f"level must be one of {', '.join(LEVEL_DIGITS)}")
    sql, params = "level = ?", [level]
    bounds = region_bounds(parent)
    if bounds:
        sql += " AND code >= ? AND code < ?"
        params += list(bounds)
    with open_facts(db) as facts:
        rows = facts.rows("SELECT code, name FROM {p}region WHERE " + sql + " ORDER BY code", params)
    return [{"code": code, "name": name, "level": level,
             "level_label": labels.label(labels.REGION_LEVELS, level)} for code, name in rows]


def accounts(db: ProjectionDatabase, region: str | None = None, organisation: str | None = None,
             cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
    """User accounts of a region (their own, or their organisation's), no secrets."""
    sql, params = "1 = 1", []
    bounds = region_bounds(region)
    if bounds:
        sql += " AND region_code >= ? AND region_code < ?"
        params += list(bounds)
    if organisation:
        sql += " AND organisation_id = ?"
        params.append(organisation)
    after = _decode_cursor(cursor)
    if after:
        sql += " AND (region_code > ? OR (region_code = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    with open_facts(db) as facts:
        rows = facts.rows(
            "SELECT id, name, role, organisation_id, region_code, state, day, deactivated_day"
            " FROM {p}account WHERE " + sql + " ORDER BY region_code, id LIMIT ?",
            [*params, limit + 1])
        names = org_names(facts, [r[3] for r in rows if r[3]])
    items = [{"id": user_id, "name": name, "role": role, "organisation_id": org,
              "organisation_name": names.get(org) if org else None, "region_code": region_code,
              "state": state, "registered_on": day, "deactivated_on": gone}
             for user_id, name, role, org, region_code, state, day, gone in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": items, "next_cursor": f"{last[4]}|{last[0]}" if last else None}
