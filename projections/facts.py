"""The fact store: the engine's events turned into compact, indexed rows.

Reports must answer for any business date (``as_of``) and any recorded time (``known_at``),
so the projection keeps *facts with their two times* rather than a current state: each row
has ``day`` (the local business date it happened) and ``recorded_at`` (when the engine
recorded it, UTC).  Reports filter ``day <= as_of`` and ``recorded_at < known_before`` and
derive states and rule hits for that date (``projections.rules``).

Times are stored as text that sorts in time order: local dates as ``YYYY-MM-DD`` and
recorded times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC.
"""
from __future__ import annotations

import sqlite3
from datetime import date, datetime, timezone
from typing import Any, Callable

from eventsourcing.utils import get_topic

from domain.commitment import PublicCommitment
from domain.organisation import Organisation
from domain.pairing import Pairing
from domain.task import ServiceTask
from projections import followup_facts
from workflows.clock import local_date

TABLES = ("org", "income", "pairing", "pairing_event", "activity", "commitment",
          "commitment_event", "task", "task_event", *followup_facts.TABLES)


def stamp(moment: datetime) -> str:
    """Fixed width (always microseconds, always +00:00), so text order is time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def day_of(moment: datetime) -> str:
    return local_date(moment).isoformat()


def iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def lag_days(event: Any) -> int:
    """How many days after it happened a fact was recorded (backfill shows up here)."""
    return (local_date(event.timestamp) - local_date(event.occurred_at)).days


def schema(prefix: str) -> list[str]:
    p = prefix
    return [
        f"CREATE TABLE IF NOT EXISTS {p}org ("
        " id TEXT PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,"
        " region_code TEXT NOT NULL, day TEXT NOT NULL, recorded_at TEXT NOT NULL,"
        " dissolved_day TEXT, dissolved_at TEXT,"
        # The latest income report (highest year, then latest recorded): what coverage reads
        # whenever the report's window sees it, without searching the income table.
        " income_year INTEGER, income_amount TEXT, income_fen INTEGER, income_day TEXT,"
        " income_at TEXT)",
        f"CREATE INDEX IF NOT EXISTS {p}org_region ON {p}org (region_code)",
        f"CREATE TABLE IF NOT EXISTS {p}income ("
        " position INTEGER PRIMARY KEY, org_id TEXT NOT NULL, year INTEGER NOT NULL,"
        " amount TEXT NOT NULL, amount_fen INTEGER NOT NULL, day TEXT NOT NULL,"
        " recorded_at TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {p}income_org ON {p}income (org_id, year)",
        f"CREATE TABLE IF NOT EXISTS {p}pairing ("
        " id TEXT PRIMARY KEY, giver_id TEXT NOT NULL, receiver_id TEXT NOT NULL,"
        " giver_region TEXT NOT NULL, receiver_region TEXT NOT NULL,"
        " term_start TEXT NOT NULL, term_end TEXT NOT NULL,"
        " day TEXT NOT NULL, recorded_at TEXT NOT NULL, position INTEGER NOT NULL,"
        # Milestones, each with both times, so "in force on a date" is a WHERE clause.  A
        # pairing ever suspended or renewed (toggles, renewals) also needs pairing_event.
        " accepted_day TEXT, accepted_at TEXT, signatures INTEGER NOT NULL DEFAULT 0,"
        " in_force_day TEXT, in_force_at TEXT, ended_day TEXT, ended_at TEXT,"
        " toggles INTEGER NOT NULL DEFAULT 0, renewals INTEGER NOT NULL DEFAULT 0)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_in_force ON {p}pairing (receiver_id, in_force_day)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_giver_in_force ON {p}pairing (giver_id, in_force_day)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_receiver_region ON {p}pairing (receiver_region, id)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_giver_region ON {p}pairing (giver_region)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_giver ON {p}pairing (giver_id)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_receiver ON {p}pairing (receiver_id)",
        # Lifecycle transitions: accepted, declined, signed (side, value=signed_on),
        # suspended, resumed, renewed (value=new term end), terminated, term_ended.
        f"CREATE TABLE IF NOT EXISTS {p}pairing_event ("
        " position INTEGER PRIMARY KEY, pairing_id TEXT NOT NULL, kind TEXT NOT NULL,"
        " side TEXT, day TEXT NOT NULL, recorded_at TEXT NOT NULL, value TEXT)",
        # Covers the lifecycle aggregates, so they never touch the table itself.
        f"CREATE INDEX IF NOT EXISTS {p}pairing_event_pairing ON {p}pairing_event"
        " (pairing_id, day, recorded_at, kind, side, value)",
        f"CREATE TABLE IF NOT EXISTS {p}activity ("
        " pairing_id TEXT NOT NULL, activity_id TEXT NOT NULL, kind TEXT NOT NULL,"
        " recorded_by TEXT NOT NULL, title TEXT NOT NULL, day TEXT NOT NULL,"
        " recorded_at TEXT NOT NULL, lag_days INTEGER NOT NULL, cosigned_day TEXT, cosigned_at TEXT,"
        " contested_day TEXT, contested_at TEXT, position INTEGER NOT NULL,"
        " PRIMARY KEY (pairing_id, activity_id))",
        f"CREATE INDEX IF NOT EXISTS {p}activity_day ON {p}activity (pairing_id, day)",
        f"CREATE TABLE IF NOT EXISTS {p}commitment ("
        " id TEXT PRIMARY KEY, pairing_id TEXT NOT NULL, giver_id TEXT NOT NULL,"
        " receiver_id TEXT NOT NULL, receiver_region TEXT NOT NULL, made_by TEXT NOT NULL,"
        " category TEXT NOT NULL, content TEXT NOT NULL, quantity TEXT, unit TEXT,"
        " amount_yuan TEXT, due_on TEXT NOT NULL, day TEXT NOT NULL, recorded_at TEXT NOT NULL,"
        " lag_days INTEGER NOT NULL, position INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {p}commitment_pairing ON {p}commitment (pairing_id)",
        f"CREATE INDEX IF NOT EXISTS {p}commitment_region ON {p}commitment (receiver_region, id)",
        # publicised (value=publicised_on), progress, extended (value=new due date), overdue,
        # claimed, disputed (value=state it returns to), confirmed, abandoned, evaluated
        # (value=outcome).
        f"CREATE TABLE IF NOT EXISTS {p}commitment_event ("
        " position INTEGER PRIMARY KEY, commitment_id TEXT NOT NULL, kind TEXT NOT NULL,"
        " day TEXT NOT NULL, recorded_at TEXT NOT NULL, value TEXT)",
        f"CREATE INDEX IF NOT EXISTS {p}commitment_event_item ON {p}commitment_event (commitment_id, position)",
        f"CREATE TABLE IF NOT EXISTS {p}task ("
        " id TEXT PRIMARY KEY, receiver_id TEXT NOT NULL, receiver_region TEXT NOT NULL,"
        " category TEXT NOT NULL, title TEXT NOT NULL, wanted_by TEXT, day TEXT NOT NULL,"
        " recorded_at TEXT NOT NULL, lag_days INTEGER NOT NULL, position INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {p}task_receiver ON {p}task (receiver_id)",
        f"CREATE INDEX IF NOT EXISTS {p}task_region ON {p}task (receiver_region, id)",
        # claimed (giver_id), withdrawn (value=state it returns to), pooled, planned
        # (value=due date), delivered (day=delivery date, value=value in yuan), confirmed,
        # rejected, confirmation_overdue, rated (value=level), closed, cancelled.
        f"CREATE TABLE IF NOT EXISTS {p}task_event ("
        " position INTEGER PRIMARY KEY, task_id TEXT NOT NULL, kind TEXT NOT NULL,"
        " day TEXT NOT NULL, recorded_at TEXT NOT NULL, value TEXT, giver_id TEXT)",
        f"CREATE INDEX IF NOT EXISTS {p}task_event_item ON {p}task_event (task_id, position)",
        f"CREATE INDEX IF NOT EXISTS {p}task_event_giver ON {p}task_event (giver_id)",
        *followup_facts.schema(p),
    ]


def drop(prefix: str) -> list[str]:
    return [f"DROP TABLE IF EXISTS {prefix}{table}" for table in TABLES]


Handler = Callable[[sqlite3.Connection, str, Any, int], None]


class Projector:
    """Applies one decoded event to the fact tables of one version (``prefix``)."""

    def __init__(self) -> None:
        self._regions: dict[tuple[str, str], str] = {}
        self.handlers: dict[type, Handler] = {
            Organisation.OrganisationRegistered: self.organisation_registered,
            Organisation.OrganisationRenamed: self.organisation_renamed,
            Organisation.CollectiveIncomeReported: self.income_reported,
            Organisation.OrganisationDissolved: self.organisation_dissolved,
            Pairing.PairingProposed: self.pairing_proposed,
            Pairing.PairingAccepted: self.transition("accepted"),
            Pairing.PairingDeclined: self.transition("declined"),
            Pairing.AgreementSigned: self.agreement_signed,
            Pairing.PairingSuspended: self.transition("suspended"),
            Pairing.PairingResumed: self.transition("resumed"),
            Pairing.PairingRenewed: self.pairing_renewed,
            Pairing.PairingTerminated: self.transition("terminated"),
            Pairing.TermEnded: self.transition("term_ended"),
            Pairing.ActivityRecorded: self.activity_recorded,
            Pairing.ActivityCoSigned: self.activity_answered("cosigned"),
            Pairing.ActivityContested: self.activity_answered("contested"),
            PublicCommitment.CommitmentMade: self.commitment_made,
            PublicCommitment.CommitmentPublicised: self.commitment_publicised,
            PublicCommitment.ProgressReported: self.commitment_step("progress"),
            PublicCommitment.DeadlineExtended: self.commitment_step(
                "extended", lambda e: e.new_due_on.isoformat()),
            PublicCommitment.CommitmentOverdue: self.commitment_step("overdue"),
            PublicCommitment.FulfilmentClaimed: self.commitment_step("claimed"),
            PublicCommitment.FulfilmentDisputed: self.commitment_step(
                "disputed", lambda e: e.back_to),
            PublicCommitment.FulfilmentConfirmed: self.commitment_step("confirmed"),
            PublicCommitment.CommitmentAbandoned: self.commitment_step("abandoned"),
            PublicCommitment.CommitmentEvaluated: self.commitment_step(
                "evaluated", lambda e: e.outcome),
            ServiceTask.NeedRaised: self.need_raised,
            ServiceTask.TaskClaimed: self.task_claimed,
            ServiceTask.ClaimWithdrawn: self.task_step("withdrawn", lambda e: e.back_to),
            ServiceTask.NeedPooled: self.task_step("pooled"),
            ServiceTask.TaskPlanned: self.task_step("planned", lambda e: e.due_on.isoformat()),
            ServiceTask.DeliveryReported: self.delivery_reported,
            ServiceTask.DeliveryConfirmed: self.task_step("confirmed"),
            ServiceTask.DeliveryRejected: self.task_step("rejected"),
            ServiceTask.ConfirmationOverdue: self.task_step("confirmation_overdue"),
            ServiceTask.SatisfactionRated: self.task_step("rated", lambda e: e.level),
            ServiceTask.TaskClosed: self.task_step("closed"),
            ServiceTask.TaskCancelled: self.task_step("cancelled"),
            **followup_facts.handlers(self._region, day_of, stamp),
        }
        self.topics = tuple(sorted(get_topic(cls) for cls in self.handlers))

    def apply(self, conn: sqlite3.Connection, prefix: str, event: Any, position: int) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(conn, prefix, event, position)

    # -- organisations ---------------------------------------------------------------------

    def organisation_registered(self, conn, p, e, position) -> None:
        conn.execute(
            f"INSERT INTO {p}org (id, code, name, kind, region_code, day, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(e.originator_id), e.code, e.name, e.kind, e.region_code,
             day_of(e.occurred_at), stamp(e.timestamp)))

    def organisation_renamed(self, conn, p, e, position) -> None:
        conn.execute(f"UPDATE {p}org SET name = ? WHERE id = ?", (e.name, str(e.originator_id)))

    def income_reported(self, conn, p, e, position) -> None:
        conn.execute(
            f"INSERT INTO {p}income (position, org_id, year, amount, amount_fen, day, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (position, str(e.originator_id), e.year, str(e.amount), int(e.amount * 100),
             day_of(e.occurred_at), stamp(e.timestamp)))
        conn.execute(
            f"UPDATE {p}org SET income_year = ?, income_amount = ?, income_fen = ?,"
            " income_day = ?, income_at = ? WHERE id = ? AND (income_year IS NULL OR income_year <= ?)",
            (e.year, str(e.amount), int(e.amount * 100), day_of(e.occurred_at),
             stamp(e.timestamp), str(e.originator_id), e.year))

    def organisation_dissolved(self, conn, p, e, position) -> None:
        conn.execute(f"UPDATE {p}org SET dissolved_day = ?, dissolved_at = ? WHERE id = ?",
                     (day_of(e.occurred_at), stamp(e.timestamp), str(e.originator_id)))

    # -- pairings ----------------------------------------------------------------------------

    def pairing_proposed(self, conn, p, e, position) -> None:
        regions = {org: self._region(conn, p, org) for org in (str(e.giver_id), str(e.receiver_id))}
        conn.execute(
            f"INSERT INTO {p}pairing (id, giver_id, receiver_id, giver_region, receiver_region,"
            " term_start, term_end, day, recorded_at, position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(e.originator_id), str(e.giver_id), str(e.receiver_id),
             regions.get(str(e.giver_id), ""), regions.get(str(e.receiver_id), ""),
             e.term_start.isoformat(), e.term_end.isoformat(), day_of(e.occurred_at),
             stamp(e.timestamp), position))

    @staticmethod
    def _transition(conn, p, e, position, kind: str, day: str, side: str | None = None,
                    value: str | None = None) -> None:
        conn.execute(
            f"INSERT INTO {p}pairing_event (position, pairing_id, kind, side, day, recorded_at,"
            " value) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (position, str(e.originator_id), kind, side, day, stamp(e.timestamp), value))

    MILESTONES = {
        "accepted": "accepted_day = ?, accepted_at = ?",
        "declined": "ended_day = ?, ended_at = ?",
        "terminated": "ended_day = ?, ended_at = ?",
        "term_ended": "ended_day = ?, ended_at = ?",
        "suspended": "toggles = toggles + 1",
        "resumed": "toggles = toggles + 1",
    }

    def transition(self, kind: str) -> Handler:
        milestone = self.MILESTONES[kind]

        def handler(conn, p, e, position) -> None:
            day, at = day_of(e.occurred_at), stamp(e.timestamp)
            self._transition(conn, p, e, position, kind, day)
            params = (day, at) if "?" in milestone else ()
            conn.execute(f"UPDATE {p}pairing SET {milestone} WHERE id = ?",
                         (*params, str(e.originator_id)))
        return handler

    def agreement_signed(self, conn, p, e, position) -> None:
        # The agreement's business date is the signing date written on it.  In force once
        # both signatures are visible: the later signing date and the later recording.
        day, at = e.signed_on.isoformat(), stamp(e.timestamp)
        self._transition(conn, p, e, position, "signed", day, e.side, day)
        conn.execute(
            f"UPDATE {p}pairing SET signatures = signatures + 1,"
            " in_force_day = CASE WHEN in_force_day IS NULL OR in_force_day < ? THEN ?"
            " ELSE in_force_day END,"
            " in_force_at = CASE WHEN in_force_at IS NULL OR in_force_at < ? THEN ?"
            " ELSE in_force_at END WHERE id = ?",
            (day, day, at, at, str(e.originator_id)))

    def pairing_renewed(self, conn, p, e, position) -> None:
        self._transition(conn, p, e, position, "renewed", day_of(e.occurred_at),
                         value=e.term_end.isoformat())
        conn.execute(f"UPDATE {p}pairing SET renewals = renewals + 1 WHERE id = ?",
                     (str(e.originator_id),))

    def activity_recorded(self, conn, p, e, position) -> None:
        conn.execute(
            f"INSERT INTO {p}activity (pairing_id, activity_id, kind, recorded_by, title, day,"
            " recorded_at, lag_days, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(e.originator_id), e.activity_id, e.kind, e.recorded_by, e.title,
             day_of(e.occurred_at), stamp(e.timestamp), lag_days(e), position))

    def activity_answered(self, answer: str) -> Handler:
        def handler(conn, p, e, position) -> None:
            conn.execute(
                f"UPDATE {p}activity SET {answer}_day = ?, {answer}_at = ? "
                "WHERE pairing_id = ? AND activity_id = ?",
                (day_of(e.occurred_at), stamp(e.timestamp), str(e.originator_id),
                 e.activity_id))
        return handler

    # -- public commitments -------------------------------------------------------------------

    def _region(self, conn, p, org_id: Any) -> str:
        # An organisation's region never changes, so it is remembered once read.
        key = (p, str(org_id))
        region = self._regions.get(key)
        if region is None:
            row = conn.execute(f"SELECT region_code FROM {p}org WHERE id = ?", (key[1],)).fetchone()
            region = row[0] if row else ""
            if row:
                self._regions[key] = region
        return region

    def commitment_made(self, conn, p, e, position) -> None:
        conn.execute(
            f"INSERT INTO {p}commitment (id, pairing_id, giver_id, receiver_id, receiver_region,"
            " made_by, category, content, quantity, unit, amount_yuan, due_on, day, recorded_at,"
            " lag_days, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(e.originator_id), str(e.pairing_id), str(e.giver_id), str(e.receiver_id),
             self._region(conn, p, e.receiver_id), e.made_by, e.category, e.content,
             _text(e.quantity), e.unit, _text(e.amount_yuan), e.due_on.isoformat(),
             day_of(e.occurred_at), stamp(e.timestamp), lag_days(e), position))

    @staticmethod
    def _commitment_event(conn, p, e, position, kind: str, day: str, value: str | None) -> None:
        conn.execute(
            f"INSERT INTO {p}commitment_event (position, commitment_id, kind, day, recorded_at,"
            " value) VALUES (?, ?, ?, ?, ?, ?)",
            (position, str(e.originator_id), kind, day, stamp(e.timestamp), value))

    def commitment_publicised(self, conn, p, e, position) -> None:
        self._commitment_event(conn, p, e, position, "publicised", e.publicised_on.isoformat(),
                               e.publicised_on.isoformat())

    def commitment_step(self, kind: str, value: Callable[[Any], str] | None = None) -> Handler:
        def handler(conn, p, e, position) -> None:
            self._commitment_event(conn, p, e, position, kind, day_of(e.occurred_at),
                                   value(e) if value else None)
        return handler

    # -- service tasks ----------------------------------------------------------------------------

    def need_raised(self, conn, p, e, position) -> None:
        conn.execute(
            f"INSERT INTO {p}task (id, receiver_id, receiver_region, category, title, wanted_by,"
            " day, recorded_at, lag_days, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(e.originator_id), str(e.receiver_id), self._region(conn, p, e.receiver_id),
             e.category, e.title, iso(e.wanted_by), day_of(e.occurred_at), stamp(e.timestamp),
             lag_days(e), position))

    @staticmethod
    def _task_event(conn, p, e, position, kind: str, day: str, value: str | None,
                    giver_id: str | None = None) -> None:
        conn.execute(
            f"INSERT INTO {p}task_event (position, task_id, kind, day, recorded_at, value,"
            " giver_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (position, str(e.originator_id), kind, day, stamp(e.timestamp), value, giver_id))

    def task_claimed(self, conn, p, e, position) -> None:
        self._task_event(conn, p, e, position, "claimed", day_of(e.occurred_at), None,
                         str(e.giver_id))

    def delivery_reported(self, conn, p, e, position) -> None:
        # The delivery's business date is when it was delivered, not when it was reported.
        self._task_event(conn, p, e, position, "delivered", day_of(e.delivered_at),
                         _text(e.value_yuan))

    def task_step(self, kind: str, value: Callable[[Any], str] | None = None) -> Handler:
        def handler(conn, p, e, position) -> None:
            self._task_event(conn, p, e, position, kind, day_of(e.occurred_at),
                             value(e) if value else None)
        return handler


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
