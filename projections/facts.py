"""The fact store: the engine's events turned into compact, indexed rows.

Reports must answer for any business date (``as_of``) and any recorded time (``known_at``),
so the projection keeps *facts with their two times* rather than a current state: each row
has ``day`` (the local business date it happened) and ``recorded_at`` (when the engine
recorded it, UTC).  Reports filter ``day <= as_of`` and ``recorded_at < known_before`` and
derive states and rule hits for that date (``domain.pairing_rules``).

Times are stored as text that sorts in time order: local dates as ``YYYY-MM-DD`` and
recorded times as ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` in UTC.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from domain.commitment import PublicCommitment
from domain.organisation import Organisation
from domain.pairing import Pairing
from domain.task import ServiceTask
from projections import account_facts, followup_facts, region_facts, round_facts
from projections.store import table_columns, table_indexes
from workflows.store.clock import LOCAL_TZ, local_date
from workflows.store.sqlstore import Cursor

TABLES = ("org", "income", "pairing", "pairing_event", "activity", "commitment",
          "commitment_event", "task", "task_event", "proxy_entry", "horizon", *followup_facts.TABLES,
          *account_facts.TABLES, *round_facts.TABLES, *region_facts.TABLES)


def stamp(moment: datetime) -> str:
    """Fixed width (always microseconds, always +00:00), so text order is time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def day_of(moment: datetime) -> str:
    return local_date(moment).isoformat()


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
        " income_at TEXT,"
        # How many of its pairings are in force in the latest state (``live_end``): what
        # coverage reads for an organisation none of whose pairings changed after the window
        # asked about (``reports.unsettled_orgs``).
        " live_pairings INTEGER NOT NULL DEFAULT 0)",
        f"CREATE INDEX IF NOT EXISTS {p}org_region ON {p}org (region_code)",
        f"CREATE INDEX IF NOT EXISTS {p}org_unpaired ON {p}org (live_pairings, region_code)",
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
        " toggles INTEGER NOT NULL DEFAULT 0, renewals INTEGER NOT NULL DEFAULT 0,"
        # In force in the latest state (all facts seen, whatever their dates): the term end
        # it runs to, renewals included; NULL otherwise.
        " live_end TEXT,"
        # Its latest lifecycle fact (proposal included): the business date and recorded time,
        # each the latest of its kind.  A window after both sees the latest state of it.
        " changed_day TEXT, changed_at TEXT)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_live ON {p}pairing (live_end)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_changed_day ON {p}pairing (changed_day)",
        f"CREATE INDEX IF NOT EXISTS {p}pairing_changed_at ON {p}pairing (changed_at)",
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
        # Covers the activity summaries (co-signed, by whom, backfilled), so a page of the
        # status board reads no activity rows.
        f"CREATE INDEX IF NOT EXISTS {p}activity_cover ON {p}activity (pairing_id, day,"
        " recorded_at, cosigned_day, cosigned_at, kind, recorded_by, lag_days)",
        f"CREATE TABLE IF NOT EXISTS {p}commitment ("
        " id TEXT PRIMARY KEY, pairing_id TEXT NOT NULL, giver_id TEXT NOT NULL,"
        " receiver_id TEXT NOT NULL, receiver_region TEXT NOT NULL, made_by TEXT NOT NULL,"
        " category TEXT NOT NULL, content TEXT NOT NULL, quantity TEXT, unit TEXT,"
        " amount_yuan TEXT, due_on TEXT NOT NULL, day TEXT NOT NULL, recorded_at TEXT NOT NULL,"
        " lag_days INTEGER NOT NULL, position INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {p}commitment_pairing ON {p}commitment (pairing_id)",
        f"CREATE INDEX IF NOT EXISTS {p}commitment_region ON {p}commitment (receiver_region, id)",
        # An organisation's commitments, from either side (its 待办, its pairing pages).
        f"CREATE INDEX IF NOT EXISTS {p}commitment_giver ON {p}commitment (giver_id)",
        f"CREATE INDEX IF NOT EXISTS {p}commitment_receiver ON {p}commitment (receiver_id)",
        # publicised (value=publicised_on), progress, extended (value=new due date), overdue,
        # claimed, disputed (value=state it returns to), confirmed, abandoned, evaluated
        # (value=outcome).
        f"CREATE TABLE IF NOT EXISTS {p}commitment_event ("
        " position INTEGER PRIMARY KEY, commitment_id TEXT NOT NULL, kind TEXT NOT NULL,"
        " day TEXT NOT NULL, recorded_at TEXT NOT NULL, value TEXT)",
        # Covering: the steps of a page's commitments come from the index alone.
        f"CREATE INDEX IF NOT EXISTS {p}commitment_event_cover ON {p}commitment_event"
        " (commitment_id, position, day, recorded_at, kind, value)",
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
        # Covering: the steps of the receivers' tasks are most of the rows a page reads.
        f"CREATE INDEX IF NOT EXISTS {p}task_event_cover ON {p}task_event"
        " (task_id, position, day, recorded_at, kind, value, giver_id)",
        f"CREATE INDEX IF NOT EXISTS {p}task_event_giver ON {p}task_event (giver_id)",
        # 代录: who entered a pairing's, an activity's, a commitment's or a task's fact for
        # another organisation (on_behalf_of), and why; subject_id is the commitment, the
        # task or the pairing (item_id then names its activity, if the fact is one's).  Few
        # rows: proxies are rare.
        f"CREATE TABLE IF NOT EXISTS {p}proxy_entry ("
        " position INTEGER PRIMARY KEY, subject_id TEXT NOT NULL, item_id TEXT,"
        " event TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT, on_behalf_of TEXT NOT NULL,"
        " reason TEXT, day TEXT NOT NULL, recorded_at TEXT NOT NULL)",
        # Named anew when the pairing's own acts joined the table (a version built before
        # lacks their rows, so it is rebuilt: ``LATEST_INDEXES``).
        f"CREATE INDEX IF NOT EXISTS {p}proxy_entry_item ON {p}proxy_entry"
        " (subject_id, item_id, position)",
        # The latest business date of any fact applied (``day``) and the latest income year
        # reported (``income_year``): up to where the latest state is the state on a date.
        f"CREATE TABLE IF NOT EXISTS {p}horizon (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        *followup_facts.schema(p),
        *account_facts.schema(p),
        *round_facts.schema(p),
        *region_facts.schema(p),
    ]


def tables(prefix: str) -> list[str]:
    return [s for s in schema(prefix) if not s.startswith("CREATE INDEX")]


def indexes(prefix: str) -> list[str]:
    """The secondary indexes: only reads need them, so a rebuild creates them after filling
    its tables (one sort per index instead of an insert at a random place per row)."""
    return [s for s in schema(prefix) if s.startswith("CREATE INDEX")]


# What this version of the code added to the fact tables: a version built by an older one
# lacks it and is rebuilt (``ProjectionRunner.ensure_active``).
LATEST_ADDITIONS = (("horizon", "name"), ("pairing", "live_end"), ("org", "live_pairings"),
                    ("pairing", "changed_day"), ("followup_event", "text"), ("account", "id"),
                    ("evaluation_rating", "side"), ("proxy_entry", "reason"), ("region", "level"))
# Indexes whose columns changed get a new name, so that a version built before has not got it.
LATEST_INDEXES = (("activity", "activity_cover"), ("commitment_event", "commitment_event_cover"),
                  ("task_event", "task_event_cover"), ("pairing", "pairing_changed_day"),
                  ("followup", "followup_responsible"), ("commitment", "commitment_giver"),
                  ("commitment", "commitment_receiver"), ("proxy_entry", "proxy_entry_item"))


def is_current(conn: sqlite3.Connection, prefix: str) -> bool:
    """Whether a version has every column and index the reports now read (else: rebuild)."""
    return (all(column in table_columns(conn, prefix + table)
                for table, column in LATEST_ADDITIONS)
            and all(prefix + index in table_indexes(conn, prefix + table)
                    for table, index in LATEST_INDEXES))


def drop(prefix: str) -> list[str]:
    return [f"DROP TABLE IF EXISTS {prefix}{table}" for table in TABLES]


# -- decoding: stored events to facts ------------------------------------------------------------
#
# The mapper turns a stored event into a domain object: JSON with a Python hook per object,
# then a UUID, a datetime or a Decimal per field, upcasting, and the object itself.  The
# fact tables want a handful of those fields again as text.  So for the event types they
# read, the stored JSON is parsed plainly and the fields are taken straight from it
# (``Fact``); the mapper remains the path for everything else: an event type with a
# ``class_version`` above 1 (its stored state may need upcasting), a value of an unexpected
# shape, a transcoder that does not write the plain JSON checked by ``plain_json``, and the
# handlers in ``Projector.handlers`` that take the decoded event itself.  Both paths give the
# same ``Fact``; the property tests compare them event by event.

TEXT, INT, UUID_HEX, DATE, NUMBER, DAY = "text", "int", "uuid", "date", "number", "day"
ACTOR = "actor"  # the actor record, a dict as stored (user_id, role, organisation_id, ...)


class Fact:
    """An event as the fact tables read it: ``type`` (its class), ``position``, ``id`` (the
    originator, hyphenated), ``day`` (local date it happened), ``at`` (``stamp`` of when it
    was recorded), ``lag`` (days between) and the fields of its ``FIELDS`` spec as text:
    ids hyphenated, dates ISO, amounts ``str(Decimal)``, ``DAY`` fields as local dates."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fact) and self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        return f"Fact({self.__dict__!r})"


class NotPlain(ValueError):
    """A stored value the plain path does not read; the mapper decodes the event instead."""


def _from_event(kind: str, value: Any) -> Any:
    if value is None or kind in (TEXT, INT, ACTOR):
        return value
    if kind == UUID_HEX or kind == NUMBER:
        return str(value)
    if kind == DATE:
        return value.isoformat()
    return day_of(value)  # DAY


# Asia/Shanghai is a fixed whole-hour offset, so a UTC time's local date depends on its hour
# alone and can be looked up by hour.
_HOURLY = (isinstance(LOCAL_TZ, timezone)
           and LOCAL_TZ.utcoffset(None) % timedelta(hours=1) == timedelta(0))


def hyphenated(hex32: str) -> str:
    """``str(UUID(hex32))`` for the 32 lower-case hex digits ``UUID.hex`` writes."""
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


class PlainDecoder:
    """Reads the ``FIELDS`` of an event from the stored JSON without the mapper."""

    def __init__(self) -> None:
        self._days: dict[str, tuple[date, str]] = {}

    def local(self, text: str) -> tuple[date, str]:
        if _HOURLY and text.endswith("+00:00"):
            key = text[:13]
            found = self._days.get(key)
            if found is None:
                if len(self._days) > 100_000:
                    self._days.clear()
                day = local_date(datetime.fromisoformat(key + ":00:00+00:00"))
                found = self._days[key] = (day, day.isoformat())
            return found
        day = local_date(datetime.fromisoformat(text))
        return day, day.isoformat()

    @staticmethod
    def stamp(text: str) -> str:
        """``stamp`` of the stored ISO text, without building the datetime when it is UTC."""
        if text.endswith("+00:00"):
            if len(text) == 32:  # YYYY-MM-DDTHH:MM:SS.ffffff+00:00
                return text
            if len(text) == 25:  # no microseconds
                return text[:19] + ".000000+00:00"
        return stamp(datetime.fromisoformat(text))

    @staticmethod
    def _tagged(raw: Any, name: str) -> str:
        if type(raw) is dict and len(raw) == 2 and raw.get("_type_") == name:
            data = raw["_data_"]
            if type(data) is str:
                return data
        raise NotPlain(name)

    def value(self, kind: str, raw: Any) -> Any:
        if kind == ACTOR:
            if type(raw) is dict:
                return raw
        elif kind == INT:
            if type(raw) is int:
                return raw
        elif kind == UUID_HEX:
            h = self._tagged(raw, "uuid_hex")
            if len(h) == 32:
                return hyphenated(h)
        elif kind == DATE:
            return self._tagged(raw, "date")
        elif kind == NUMBER:
            if type(raw) is int:
                return str(raw)
            return self._tagged(raw, "decimal_str")
        elif kind == DAY:
            return self.local(self._tagged(raw, "datetime_iso"))[1]
        raise NotPlain(kind)

    def fact(self, cls: type, spec: tuple[tuple[str, str], ...], position: int,
             originator_id: str, state: dict) -> Fact:
        tagged, local = self._tagged, self.local
        happened, day = local(tagged(state["occurred_at"], "datetime_iso"))
        at = tagged(state["timestamp"], "datetime_iso")
        values = {"type": cls, "position": position, "id": originator_id, "day": day,
                  "at": self.stamp(at), "lag": (local(at)[0] - happened).days}
        for name, kind in spec:
            raw = state[name]
            if raw is None or (kind == TEXT and type(raw) is str):
                values[name] = raw
            else:
                values[name] = self.value(kind, raw)
        fact = object.__new__(Fact)
        fact.__dict__ = values
        return fact


def _json_loader() -> Callable[[bytes], Any]:
    """Plain JSON parsing of stored bytes: orjson when installed (about twice as fast),
    else the standard library's C scanner called directly.  Either refuses what it cannot
    read exactly (orjson: NaN, integers beyond 64 bits) with a ValueError, which sends the
    event to the mapper."""
    try:
        import orjson
    except ImportError:
        scan = json.JSONDecoder().scan_once

        def loads(data: bytes) -> Any:
            text = data.decode("utf8")
            value, end = scan(text, 0)
            if end != len(text):
                raise NotPlain("trailing data")
            return value
        return loads
    return orjson.loads


def fact_from_event(spec: dict[str, str], event: Any, position: int) -> Fact:
    values = {"type": type(event), "position": position, "id": str(event.originator_id),
              "day": day_of(event.occurred_at), "at": stamp(event.timestamp),
              "lag": lag_days(event)}
    for name, kind in spec.items():
        values[name] = _from_event(kind, getattr(event, name))
    return Fact(**values)


# -- reading the log ---------------------------------------------------------------------------

class LogReader:
    """The events after a position, as rows ``(position, originator id as text, topic,
    stored state, source)``; ``notification(row)`` is the library's notification of a row,
    for the mapper.  This one reads through ``select_notifications`` (any event store)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    def read(self, after: int, stop: int, limit: int, topics: tuple[str, ...]) -> list[tuple]:
        return [(n.id, str(n.originator_id), n.topic, n.state, n)
                for n in self.recorder.select_notifications(
                    start=after, limit=limit, stop=stop, topics=topics, inclusive_of_start=False)]

    def notification(self, row: tuple) -> Any:
        return row[4]


class SQLiteLogReader(LogReader):
    """The same rows straight from the SQLite event table: the query
    ``select_notifications`` runs, without a notification object and a UUID per event."""

    def read(self, after: int, stop: int, limit: int, topics: tuple[str, ...]) -> list[tuple]:
        recorder = self.recorder
        sql = (f"SELECT rowid, originator_id, topic, state, originator_version"
               f" FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ?"
               f" AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid LIMIT ?")
        with recorder.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None  # plain tuples: the library's rows are sqlite3.Row
            cursor.execute(sql, (after, stop, *topics, limit))
            rows = cursor.fetchall()
        if recorder.datastore.originator_id_type != "uuid":
            return [(r[0], r[1], r[2], r[3], r) for r in rows]
        return [(r[0], f"{o[:8]}-{o[8:12]}-{o[12:16]}-{o[16:20]}-{o[20:]}" if len(o := r[1]) == 32
                 else str(UUID(o)), r[2], r[3], r) for r in rows]

    def notification(self, row: tuple) -> Any:
        r = row[4]
        return Notification(id=r[0], originator_id=self.recorder.convert_originator_id(r[1]),
                            originator_version=r[4], topic=r[2], state=r[3])


class PostgresLogReader(LogReader):
    """The same rows straight from the PostgreSQL event table: the library's query answers
    a dict and a ``UUID`` per row and builds a notification of each (two thirds of a
    rebuild's reading time); here the server writes the id as text and rows are tuples."""

    def __init__(self, recorder: Any) -> None:
        super().__init__(recorder)
        from psycopg.rows import tuple_row  # only installed where PostgreSQL is used
        from psycopg.sql import SQL, Identifier

        self._tuples = tuple_row
        self._sql = SQL(
            "SELECT notification_id, originator_id::text, topic, state, originator_version"
            " FROM {}.{} WHERE notification_id > %s AND notification_id <= %s"
            " AND topic = ANY(%s) ORDER BY notification_id LIMIT %s").format(
            Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))

    def read(self, after: int, stop: int, limit: int, topics: tuple[str, ...]) -> list[tuple]:
        with self.recorder.datastore.get_connection() as conn, \
                conn.cursor(row_factory=self._tuples, binary=True) as cursor:
            cursor.execute(self._sql, (after, stop, list(topics), limit), prepare=True)
            return [(r[0], r[1], r[2], bytes(r[3]), r) for r in cursor.fetchall()]

    def notification(self, row: tuple) -> Any:
        r = row[4]
        uuid = self.recorder.datastore.originator_id_type == "uuid"
        return Notification(id=r[0], originator_id=UUID(r[1]) if uuid else r[1],
                            originator_version=r[4], topic=r[2], state=row[3])


def log_reader(recorder: Any) -> LogReader:
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLiteLogReader(recorder)
    if type(recorder).__module__.startswith(("eventsourcing.postgres", "workflows.audit")) \
            and hasattr(recorder, "datastore") and hasattr(recorder.datastore, "schema"):
        return PostgresLogReader(recorder)
    return LogReader(recorder)


_SAMPLES = (("uuid_hex", UUID(int=2**127 + 5), "80000000000000000000000000000005"),
            ("decimal_str", Decimal("12.50"), "12.50"),
            ("datetime_iso", datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=timezone.utc),
             "2024-05-06T07:08:09.000010+00:00"),
            ("date", date(2024, 5, 6), "2024-05-06"))


def plain_json(mapper: Any) -> bool:
    """Whether the mapper writes the JSON the plain path reads: the library's JSON
    transcoder with these names for these types, encoded as these texts."""
    transcoder = getattr(mapper, "transcoder", None)
    if type(transcoder) is not JSONTranscoder:
        return False
    names = transcoder.names
    return all(name in names and names[name].encode(value) == text
               and names[name].decode(text) == value for name, value, text in _SAMPLES)


Handler = Callable[[sqlite3.Connection, str, Any, int], None]
FactHandler = Callable[[sqlite3.Connection, str, Fact], None]

# The fields of each event type the fact tables read, besides the common ones of ``Fact``.
FIELDS: dict[type, dict[str, str]] = {
    Organisation.OrganisationRegistered: {"code": TEXT, "name": TEXT, "kind": TEXT,
                                          "region_code": TEXT},
    Organisation.OrganisationRenamed: {"name": TEXT},
    Organisation.CollectiveIncomeReported: {"year": INT, "amount": NUMBER},
    Organisation.OrganisationDissolved: {},
    Pairing.PairingProposed: {"giver_id": UUID_HEX, "receiver_id": UUID_HEX, "term_start": DATE,
                              "term_end": DATE},
    Pairing.PairingAccepted: {},
    Pairing.PairingDeclined: {},
    Pairing.AgreementSigned: {"side": TEXT, "signed_on": DATE},
    Pairing.PairingSuspended: {},
    Pairing.PairingResumed: {},
    Pairing.PairingRenewed: {"term_end": DATE},
    Pairing.PairingTerminated: {},
    Pairing.TermEnded: {},
    Pairing.ActivityRecorded: {"activity_id": TEXT, "kind": TEXT, "recorded_by": TEXT,
                               "title": TEXT},
    Pairing.ActivityCoSigned: {"activity_id": TEXT},
    Pairing.ActivityContested: {"activity_id": TEXT},
    PublicCommitment.CommitmentMade: {
        "pairing_id": UUID_HEX, "giver_id": UUID_HEX, "receiver_id": UUID_HEX, "made_by": TEXT,
        "category": TEXT, "content": TEXT, "quantity": NUMBER, "unit": TEXT,
        "amount_yuan": NUMBER, "due_on": DATE},
    PublicCommitment.CommitmentPublicised: {"publicised_on": DATE},
    PublicCommitment.ProgressReported: {},
    PublicCommitment.DeadlineExtended: {"new_due_on": DATE},
    PublicCommitment.CommitmentOverdue: {},
    PublicCommitment.FulfilmentClaimed: {},
    PublicCommitment.FulfilmentDisputed: {"back_to": TEXT},
    PublicCommitment.FulfilmentConfirmed: {},
    PublicCommitment.CommitmentAbandoned: {},
    PublicCommitment.CommitmentEvaluated: {"outcome": TEXT},
    PublicCommitment.CommitmentCorrected: {
        "category": TEXT, "content": TEXT, "quantity": NUMBER, "unit": TEXT,
        "amount_yuan": NUMBER, "due_on": DATE},
    PublicCommitment.CommitmentDiscarded: {},
    ServiceTask.NeedRaised: {"receiver_id": UUID_HEX, "category": TEXT, "title": TEXT,
                             "wanted_by": DATE},
    ServiceTask.TaskClaimed: {"giver_id": UUID_HEX},
    ServiceTask.ClaimWithdrawn: {"back_to": TEXT},
    ServiceTask.NeedPooled: {},
    ServiceTask.TaskPlanned: {"due_on": DATE},
    ServiceTask.DeliveryReported: {"delivered_at": DAY, "value_yuan": NUMBER},
    ServiceTask.DeliveryConfirmed: {},
    ServiceTask.DeliveryRejected: {},
    ServiceTask.ConfirmationOverdue: {},
    ServiceTask.SatisfactionRated: {"level": TEXT},
    ServiceTask.TaskClosed: {},
    ServiceTask.TaskCancelled: {},
}

# The facts whose 代录 the reports show (``proxy_entry``): an activity's, the pairing's own
# acts (proposal, acceptance, signatures, ...), and every fact of a commitment or a task.
# They also read who wrote them and for whom.
PROXIED_ACTIVITY = (Pairing.ActivityRecorded, Pairing.ActivityCoSigned, Pairing.ActivityContested)
PROXIED = tuple(cls for cls in FIELDS if issubclass(
    cls, (Pairing.Event, PublicCommitment.Event, ServiceTask.Event)))
for _cls in PROXIED:
    FIELDS[_cls] = {**FIELDS[_cls], "actor": ACTOR, "on_behalf_of": UUID_HEX}


class Projector:
    """Applies one event to the fact tables of one version (``prefix``).

    ``facts`` holds a handler per event type of ``FIELDS``, taking a :class:`Fact`;
    ``handlers`` may hold handlers that take the decoded event and its position instead."""

    def __init__(self) -> None:
        self._regions: dict[tuple[str, str], str] = {}
        # Versions being filled by a rebuild: their live columns are computed in one go
        # (``compute_live``) rather than event by event.
        self.bulk: set[str] = set()
        # Rows a version being filled in bulk appends (organisations, pairings, activities,
        # the event tables, commitments, tasks): written per statement at the batch's end, or
        # for one table (``_flush``) before a statement that reads or updates it.
        # Rows are kept as handed in: a held activity row (a list) is filled in by its answer.
        self._appends: dict[str, dict[str, list[tuple | list]]] = {}
        # The activity rows among them, by (pairing, activity): an answer to an activity
        # recorded in the same batch is written into its row instead of by an update.
        self._pending_activities: dict[str, dict[tuple[str, str], list]] = {}
        self._horizon: dict[str, list] = {}
        self.handlers: dict[type, Handler] = {
            **followup_facts.handlers(self._region, day_of, stamp),
            **account_facts.handlers(self._region, day_of, stamp),
            **round_facts.handlers(day_of, stamp),
            **region_facts.handlers(day_of, stamp)}
        self.facts: dict[type, FactHandler] = {
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
            PublicCommitment.DeadlineExtended: self.commitment_step("extended", "new_due_on"),
            PublicCommitment.CommitmentOverdue: self.commitment_step("overdue"),
            PublicCommitment.FulfilmentClaimed: self.commitment_step("claimed"),
            PublicCommitment.FulfilmentDisputed: self.commitment_step("disputed", "back_to"),
            PublicCommitment.FulfilmentConfirmed: self.commitment_step("confirmed"),
            PublicCommitment.CommitmentAbandoned: self.commitment_step("abandoned"),
            PublicCommitment.CommitmentEvaluated: self.commitment_step("evaluated", "outcome"),
            PublicCommitment.CommitmentCorrected: self.commitment_corrected,
            PublicCommitment.CommitmentDiscarded: self.commitment_step("discarded"),
            ServiceTask.NeedRaised: self.need_raised,
            ServiceTask.TaskClaimed: self.task_claimed,
            ServiceTask.ClaimWithdrawn: self.task_step("withdrawn", "back_to"),
            ServiceTask.NeedPooled: self.task_step("pooled"),
            ServiceTask.TaskPlanned: self.task_step("planned", "due_on"),
            ServiceTask.DeliveryReported: self.delivery_reported,
            ServiceTask.DeliveryConfirmed: self.task_step("confirmed"),
            ServiceTask.DeliveryRejected: self.task_step("rejected"),
            ServiceTask.ConfirmationOverdue: self.task_step("confirmation_overdue"),
            ServiceTask.SatisfactionRated: self.task_step("rated", "level"),
            ServiceTask.TaskClosed: self.task_step("closed"),
            ServiceTask.TaskCancelled: self.task_step("cancelled"),
        }

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted({get_topic(cls) for cls in (*self.facts, *self.handlers)}))

    def apply(self, conn: sqlite3.Connection, prefix: str, event: Any, position: int) -> None:
        """Apply a decoded event."""
        cls = type(event)
        if cls in self.facts:
            self.begin(prefix)
            self.apply_fact(conn, prefix, fact_from_event(FIELDS[cls], event, position))
            self.finish(conn, prefix)
        elif cls in self.handlers:
            self.handlers[cls](conn, prefix, event, position)

    def apply_fact(self, conn: sqlite3.Connection, prefix: str, fact: Fact) -> None:
        if fact.type in self.facts:
            self.facts[fact.type](conn, prefix, fact)
            self._saw(prefix, fact.day)
            if fact.__dict__.get("on_behalf_of") is not None:
                self.proxy_entry(conn, prefix, fact)
        else:
            self.handlers[fact.type](conn, prefix, fact.event, fact.position)

    def proxy_entry(self, conn, p: str, f: Fact) -> None:
        """代录: the fact was entered for an organisation that is not the writer's own."""
        actor = f.actor
        if f.on_behalf_of == actor.get("organisation_id"):
            return
        item = f.activity_id if f.type in PROXIED_ACTIVITY else None
        self._append(
            conn, p,
            f"INSERT INTO {p}proxy_entry (position, subject_id, item_id, event, user_id, role,"
            " on_behalf_of, reason, day, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f.position, f.id, item, f.type.__name__, actor.get("user_id") or "",
             actor.get("role"), f.on_behalf_of, actor.get("proxy_reason"), f.day, f.at))

    # -- the horizon and the latest state ---------------------------------------------------

    def _saw(self, prefix: str, day: str, income_year: int | None = None) -> None:
        seen = self._horizon.setdefault(prefix, ["", None])
        if day > seen[0]:
            seen[0] = day
        if income_year is not None and (seen[1] is None or income_year > seen[1]):
            seen[1] = income_year

    def begin(self, prefix: str) -> None:
        """Start a batch: forget what an earlier batch that was rolled back saw."""
        self._horizon.pop(prefix, None)
        self._appends.pop(prefix, None)
        self._pending_activities.pop(prefix, None)

    def _append(self, conn, p: str, sql: str, params: tuple | list) -> None:
        if p in self.bulk:
            self._appends.setdefault(p, {}).setdefault(sql, []).append(params)
        else:
            conn.execute(sql, params)

    def _flush(self, conn, p: str, table: str) -> None:
        """Write the rows appended to ``table`` so far, before a statement that reads or
        updates it (in order, as if each had been written when applied)."""
        appends = self._appends.get(p)
        if not appends:
            return
        head = f"INSERT INTO {p}{table} ("
        for sql in [sql for sql in appends if sql.startswith(head)]:
            insert_rows(conn, sql, appends.pop(sql))
        if table == "activity":
            self._pending_activities.pop(p, None)

    def finish(self, conn: sqlite3.Connection, prefix: str) -> None:
        """End a batch: write its appended rows and move the horizon up to what it saw, in
        its transaction."""
        for sql, rows in self._appends.pop(prefix, {}).items():
            insert_rows(conn, sql, rows)
        self._pending_activities.pop(prefix, None)
        seen = self._horizon.pop(prefix, None)
        if seen is None:
            return
        for name, value in (("day", seen[0]), ("income_year", seen[1])):
            if value is not None and value != "":
                conn.execute(
                    f"INSERT INTO {prefix}horizon (name, value) VALUES (?, ?) ON CONFLICT (name)"
                    f" DO UPDATE SET value = CASE WHEN excluded.value > {prefix}horizon.value"
                    f" THEN excluded.value ELSE {prefix}horizon.value END", (name, str(value)))

    # The term end a pairing in force in the latest state runs to; NULL when it is not in
    # force (proposed, awaiting a signature, ended, or suspended: the later of its
    # suspensions and resumptions decides).
    LIVE_END = (
        "CASE WHEN accepted_day IS NOT NULL AND signatures >= 2 AND ended_day IS NULL"
        " AND (toggles = 0 OR (SELECT e.kind FROM {p}pairing_event e WHERE e.pairing_id = {t}.id"
        " AND e.kind IN ('suspended', 'resumed') ORDER BY e.position DESC LIMIT 1) = 'resumed')"
        " THEN CASE WHEN renewals = 0 THEN term_end ELSE COALESCE((SELECT MAX(e.value)"
        " FROM {p}pairing_event e WHERE e.pairing_id = {t}.id AND e.kind = 'renewed'), term_end)"
        " END END")

    def _relive(self, conn, p: str, pairing_id: str) -> None:
        if p in self.bulk:
            return
        row = conn.execute(
            f"SELECT live_end, {self.LIVE_END.format(p=p, t=p + 'pairing')}, giver_id, receiver_id"
            f" FROM {p}pairing WHERE id = ?", (pairing_id,)).fetchone()
        if row is None or row[0] == row[1]:
            return
        conn.execute(f"UPDATE {p}pairing SET live_end = ? WHERE id = ?", (row[1], pairing_id))
        if (row[0] is None) != (row[1] is None):
            conn.execute(f"UPDATE {p}org SET live_pairings = live_pairings + ? WHERE id IN (?, ?)",
                         (1 if row[0] is None else -1, row[2], row[3]))

    def complete(self, conn, p: str) -> None:
        """The columns a version filled in bulk did not keep up event by event, from its
        facts, as the handlers would have left them: each pairing's milestones and live
        end, each organisation's latest income report and live pairings.

        Run before the secondary indexes are built (``ProjectionRunner.rebuild``): each
        pairing row is rewritten once, by one statement that reads its lifecycle facts in
        one sorted pass, rather than once per milestone with nine indexes to keep up (on
        PostgreSQL every update writes a new row version and an entry in each index)."""
        last = ("SELECT {key}, {columns}, ROW_NUMBER() OVER (PARTITION BY {key}"
                " ORDER BY {order}) AS n FROM {table} WHERE {where}")
        # ``grp`` gathers the kinds of which only the latest counts (by log position): the
        # acceptance, the end (declined, terminated, term ended), the last toggle.
        latest = "MAX(CASE WHEN grp = '{grp}' AND n = 1 THEN {column} END)"
        conn.execute(
            f"UPDATE {p}pairing SET accepted_day = c.accepted_day, accepted_at = c.accepted_at,"
            " ended_day = c.ended_day, ended_at = c.ended_at, signatures = c.signatures,"
            " in_force_day = c.in_force_day, in_force_at = c.in_force_at, toggles = c.toggles,"
            " renewals = c.renewals,"
            f" changed_day = CASE WHEN c.last_day > {p}pairing.day THEN c.last_day"
            f" ELSE {p}pairing.day END,"
            f" changed_at = CASE WHEN c.last_at > {p}pairing.recorded_at THEN c.last_at"
            f" ELSE {p}pairing.recorded_at END,"
            # ``LIVE_END`` of the columns set here.
            " live_end = CASE WHEN c.accepted_day IS NOT NULL AND c.signatures >= 2"
            " AND c.ended_day IS NULL AND (c.toggles = 0 OR c.toggled = 'resumed')"
            f" THEN CASE WHEN c.renewals = 0 THEN {p}pairing.term_end"
            f" ELSE COALESCE(c.renewed_end, {p}pairing.term_end) END END"
            " FROM (SELECT pairing_id,"
            f" {latest.format(grp='accepted', column='day')} AS accepted_day,"
            f" {latest.format(grp='accepted', column='recorded_at')} AS accepted_at,"
            f" {latest.format(grp='ended', column='day')} AS ended_day,"
            f" {latest.format(grp='ended', column='recorded_at')} AS ended_at,"
            " SUM(CASE WHEN kind = 'signed' THEN 1 ELSE 0 END) AS signatures,"
            " MAX(CASE WHEN kind = 'signed' THEN day END) AS in_force_day,"
            " MAX(CASE WHEN kind = 'signed' THEN recorded_at END) AS in_force_at,"
            " SUM(CASE WHEN grp = 'toggled' THEN 1 ELSE 0 END) AS toggles,"
            f" {latest.format(grp='toggled', column='kind')} AS toggled,"
            " SUM(CASE WHEN kind = 'renewed' THEN 1 ELSE 0 END) AS renewals,"
            " MAX(CASE WHEN kind = 'renewed' THEN value END) AS renewed_end,"
            " MAX(day) AS last_day, MAX(recorded_at) AS last_at FROM ("
            "SELECT pairing_id, kind, day, recorded_at, value, grp, ROW_NUMBER() OVER"
            " (PARTITION BY pairing_id, grp ORDER BY position DESC) AS n FROM ("
            "SELECT pairing_id, kind, day, recorded_at, value, position,"
            " CASE WHEN kind IN ('declined', 'terminated', 'term_ended') THEN 'ended'"
            " WHEN kind IN ('suspended', 'resumed') THEN 'toggled' ELSE kind END AS grp"
            f" FROM {p}pairing_event) g) e GROUP BY pairing_id) c"
            f" WHERE c.pairing_id = {p}pairing.id")
        conn.execute(
            f"UPDATE {p}org SET income_year = i.year, income_amount = i.amount,"
            " income_fen = i.amount_fen, income_day = i.day, income_at = i.recorded_at FROM ("
            + last.format(key="org_id", columns="year, amount, amount_fen, day, recorded_at",
                          order="year DESC, position DESC", table=f"{p}income", where="1 = 1")
            + f") i WHERE i.n = 1 AND i.org_id = {p}org.id")
        # One grouped count rather than two correlated counts per organisation, which
        # PostgreSQL plans as scans (its statistics predate live_end): 5.8 s against 0.3 s
        # at 2,000 pairings.  The version was filled in bulk, so every count is still 0
        # and only organisations with a pairing in force need a row here.
        conn.execute(
            f"UPDATE {p}org SET live_pairings = c.n FROM (SELECT id, COUNT(*) AS n FROM ("
            f"SELECT receiver_id AS id FROM {p}pairing WHERE live_end IS NOT NULL UNION ALL"
            f" SELECT giver_id AS id FROM {p}pairing WHERE live_end IS NOT NULL) x GROUP BY id) c"
            f" WHERE c.id = {p}org.id")
        self.bulk.discard(p)

    def decoder(self, mapper: Any, reader: LogReader,
                plain: bool = True) -> Callable[[tuple], Fact]:
        """A function from a row of ``reader`` to its :class:`Fact`.  ``plain=False`` decodes
        every event with the mapper (the reference the plain path is tested against)."""
        direct: dict[str, tuple[type, tuple[tuple[str, str], ...]]] = {}
        if plain and plain_json(mapper):
            for cls in self.facts:
                if getattr(cls, "class_version", 1) == 1:
                    direct[get_topic(cls)] = (cls, tuple(FIELDS[cls].items()))
        cipher, compressor = mapper.cipher, mapper.compressor
        fact = PlainDecoder().fact
        loads = _json_loader()

        def via_mapper(row: tuple) -> Fact:
            event = mapper.to_domain_event(reader.notification(row))
            cls = type(event)
            if cls in self.facts:
                return fact_from_event(FIELDS[cls], event, row[0])
            return Fact(type=cls, position=row[0], event=event)

        def decode(row: tuple) -> Fact:
            found = direct.get(row[2])
            if found is None:
                return via_mapper(row)
            state = row[3]
            if cipher:
                state = cipher.decrypt(state)
            if compressor:
                state = compressor.decompress(state)
            try:
                return fact(found[0], found[1], row[0], row[1], loads(state))
            except (KeyError, TypeError, ValueError, StopIteration):  # NotPlain is a ValueError
                return via_mapper(row)
        return decode

    # -- organisations ---------------------------------------------------------------------

    def organisation_registered(self, conn, p, f: Fact) -> None:
        # The region is the event's and never changes: remembering it here spares the
        # pairings, commitments and tasks that name the organisation a read (on PostgreSQL
        # each read is a round trip that drains the batch's pipelined statements).
        self._regions[(p, str(f.id))] = f.region_code
        self._append(
            conn, p,
            f"INSERT INTO {p}org (id, code, name, kind, region_code, day, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (f.id, f.code, f.name, f.kind, f.region_code, f.day, f.at))

    def organisation_renamed(self, conn, p, f: Fact) -> None:
        self._flush(conn, p, "org")
        conn.execute(f"UPDATE {p}org SET name = ? WHERE id = ?", (f.name, f.id))

    def income_reported(self, conn, p, f: Fact) -> None:
        fen = int(Decimal(f.amount) * 100)
        self._saw(p, f.day, f.year)
        self._append(
            conn, p,
            f"INSERT INTO {p}income (position, org_id, year, amount, amount_fen, day, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (f.position, f.id, f.year, f.amount, fen, f.day, f.at))
        if p in self.bulk:
            return
        conn.execute(
            f"UPDATE {p}org SET income_year = ?, income_amount = ?, income_fen = ?,"
            " income_day = ?, income_at = ? WHERE id = ? AND (income_year IS NULL OR income_year <= ?)",
            (f.year, f.amount, fen, f.day, f.at, f.id, f.year))

    def organisation_dissolved(self, conn, p, f: Fact) -> None:
        self._flush(conn, p, "org")
        conn.execute(f"UPDATE {p}org SET dissolved_day = ?, dissolved_at = ? WHERE id = ?",
                     (f.day, f.at, f.id))

    # -- pairings ----------------------------------------------------------------------------

    def pairing_proposed(self, conn, p, f: Fact) -> None:
        self._append(
            conn, p,
            f"INSERT INTO {p}pairing (id, giver_id, receiver_id, giver_region, receiver_region,"
            " term_start, term_end, day, recorded_at, position, changed_day, changed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f.id, f.giver_id, f.receiver_id, self._region(conn, p, f.giver_id),
             self._region(conn, p, f.receiver_id), f.term_start, f.term_end, f.day, f.at,
             f.position, f.day, f.at))

    def _transition(self, conn, p, f: Fact, kind: str, day: str, side: str | None = None,
                    value: str | None = None) -> None:
        self._append(
            conn, p,
            f"INSERT INTO {p}pairing_event (position, pairing_id, kind, side, day, recorded_at,"
            " value) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (f.position, f.id, kind, side, day, f.at, value))
        if p in self.bulk:
            return
        conn.execute(
            f"UPDATE {p}pairing SET"
            " changed_day = CASE WHEN changed_day < ? THEN ? ELSE changed_day END,"
            " changed_at = CASE WHEN changed_at < ? THEN ? ELSE changed_at END WHERE id = ?",
            (day, day, f.at, f.at, f.id))

    MILESTONES = {
        "accepted": "accepted_day = ?, accepted_at = ?",
        "declined": "ended_day = ?, ended_at = ?",
        "terminated": "ended_day = ?, ended_at = ?",
        "term_ended": "ended_day = ?, ended_at = ?",
        "suspended": "toggles = toggles + 1",
        "resumed": "toggles = toggles + 1",
    }

    def transition(self, kind: str) -> FactHandler:
        milestone = self.MILESTONES[kind]
        dated = "?" in milestone

        def handler(conn, p, f: Fact) -> None:
            self._transition(conn, p, f, kind, f.day)
            if p in self.bulk:
                return
            conn.execute(f"UPDATE {p}pairing SET {milestone} WHERE id = ?",
                         (f.day, f.at, f.id) if dated else (f.id,))
            self._relive(conn, p, f.id)
        return handler

    def agreement_signed(self, conn, p, f: Fact) -> None:
        # The agreement's business date is the signing date written on it.  In force once
        # both signatures are visible: the later signing date and the later recording.
        day, at = f.signed_on, f.at
        self._transition(conn, p, f, "signed", day, f.side, day)
        self._saw(p, day)
        if p in self.bulk:
            return
        conn.execute(
            f"UPDATE {p}pairing SET signatures = signatures + 1,"
            " in_force_day = CASE WHEN in_force_day IS NULL OR in_force_day < ? THEN ?"
            " ELSE in_force_day END,"
            " in_force_at = CASE WHEN in_force_at IS NULL OR in_force_at < ? THEN ?"
            " ELSE in_force_at END WHERE id = ?",
            (day, day, at, at, f.id))
        self._relive(conn, p, f.id)

    def pairing_renewed(self, conn, p, f: Fact) -> None:
        self._transition(conn, p, f, "renewed", f.day, value=f.term_end)
        if p in self.bulk:
            return
        conn.execute(f"UPDATE {p}pairing SET renewals = renewals + 1 WHERE id = ?", (f.id,))
        self._relive(conn, p, f.id)

    # The answer columns of an activity row, in ``activity_recorded``'s insert.
    ANSWERS = {"cosigned": 9, "contested": 11}

    def activity_recorded(self, conn, p, f: Fact) -> None:
        row = [f.id, f.activity_id, f.kind, f.recorded_by, f.title, f.day, f.at, f.lag,
               f.position, None, None, None, None]
        self._append(
            conn, p,
            f"INSERT INTO {p}activity (pairing_id, activity_id, kind, recorded_by, title, day,"
            " recorded_at, lag_days, position, cosigned_day, cosigned_at, contested_day,"
            " contested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        if p in self.bulk:
            self._pending_activities.setdefault(p, {})[(str(f.id), str(f.activity_id))] = row

    def activity_answered(self, answer: str) -> FactHandler:
        column = self.ANSWERS[answer]

        def handler(conn, p, f: Fact) -> None:
            row = self._pending_activities.get(p, {}).get((str(f.id), str(f.activity_id)))
            if row is not None:
                row[column:column + 2] = (f.day, f.at)
                return
            # Not among the rows this batch holds (those are all in ``_pending_activities``):
            # the row is in the table already, so the held ones need not be written first.
            conn.execute(
                f"UPDATE {p}activity SET {answer}_day = ?, {answer}_at = ? "
                "WHERE pairing_id = ? AND activity_id = ?",
                (f.day, f.at, f.id, f.activity_id))
        return handler

    # -- public commitments -------------------------------------------------------------------

    def _region(self, conn, p, org_id: Any) -> str:
        # An organisation's region never changes, so it is remembered once read.
        key = (p, str(org_id))
        region = self._regions.get(key)
        if region is None:
            self._flush(conn, p, "org")
            row = conn.execute(f"SELECT region_code FROM {p}org WHERE id = ?", (key[1],)).fetchone()
            region = row[0] if row else ""
            if row:
                self._regions[key] = region
        return region

    def commitment_made(self, conn, p, f: Fact) -> None:
        self._append(
            conn, p,
            f"INSERT INTO {p}commitment (id, pairing_id, giver_id, receiver_id, receiver_region,"
            " made_by, category, content, quantity, unit, amount_yuan, due_on, day, recorded_at,"
            " lag_days, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f.id, f.pairing_id, f.giver_id, f.receiver_id, self._region(conn, p, f.receiver_id),
             f.made_by, f.category, f.content, f.quantity, f.unit, f.amount_yuan, f.due_on,
             f.day, f.at, f.lag, f.position))

    def _commitment_event(self, conn, p, f: Fact, kind: str, day: str, value: str | None) -> None:
        self._append(
            conn, p,
            f"INSERT INTO {p}commitment_event (position, commitment_id, kind, day, recorded_at,"
            " value) VALUES (?, ?, ?, ?, ?, ?)",
            (f.position, f.id, kind, day, f.at, value))

    def commitment_publicised(self, conn, p, f: Fact) -> None:
        self._commitment_event(conn, p, f, "publicised", f.publicised_on, f.publicised_on)

    CORRECTED = ("category", "content", "quantity", "unit", "amount_yuan", "due_on")

    def commitment_corrected(self, conn, p, f: Fact) -> None:
        """A draft's mistyped fields: the ledger shows what the draft says now."""
        changed = [(name, getattr(f, name)) for name in self.CORRECTED
                   if getattr(f, name) is not None]
        if not changed:
            return
        # The row may still be among the appends of a bulk batch: write those first.
        self._flush(conn, p, "commitment")
        conn.execute(f"UPDATE {p}commitment SET " + ", ".join(f"{n} = ?" for n, _ in changed)
                     + " WHERE id = ?", (*(v for _, v in changed), f.id))

    def commitment_step(self, kind: str, field: str | None = None) -> FactHandler:
        def handler(conn, p, f: Fact) -> None:
            self._commitment_event(conn, p, f, kind, f.day, getattr(f, field) if field else None)
        return handler

    # -- service tasks ----------------------------------------------------------------------------

    def need_raised(self, conn, p, f: Fact) -> None:
        self._append(
            conn, p,
            f"INSERT INTO {p}task (id, receiver_id, receiver_region, category, title, wanted_by,"
            " day, recorded_at, lag_days, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f.id, f.receiver_id, self._region(conn, p, f.receiver_id), f.category, f.title,
             f.wanted_by, f.day, f.at, f.lag, f.position))

    def _task_event(self, conn, p, f: Fact, kind: str, day: str, value: str | None,
                    giver_id: str | None = None) -> None:
        self._append(
            conn, p,
            f"INSERT INTO {p}task_event (position, task_id, kind, day, recorded_at, value,"
            " giver_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (f.position, f.id, kind, day, f.at, value, giver_id))

    def task_claimed(self, conn, p, f: Fact) -> None:
        self._task_event(conn, p, f, "claimed", f.day, None, f.giver_id)

    def delivery_reported(self, conn, p, f: Fact) -> None:
        # The delivery's business date is when it was delivered, not when it was reported.
        self._task_event(conn, p, f, "delivered", f.delivered_at, f.value_yuan)

    def task_step(self, kind: str, field: str | None = None) -> FactHandler:
        def handler(conn, p, f: Fact) -> None:
            self._task_event(conn, p, f, kind, f.day, getattr(f, field) if field else None)
        return handler


# Rows per multi-row INSERT on PostgreSQL: one statement instead of one per row (each a
# message the server parses, plans and answers); 1000 rows of 16 columns stay far below
# the protocol's 65,535 parameters.
MULTI_ROW = 1000
# From this many rows on, PostgreSQL gets them by COPY: a third of the time of multi-row
# inserts (measured: 7,700 activity rows, 0.08 s against 0.22-0.32 s), worth the round trip
# of stepping out of pipeline mode, which refuses COPY.
COPY_ROWS = 100


def insert_rows(conn: Any, sql: str, rows: list) -> None:
    """``sql`` (an ``INSERT INTO t (columns) VALUES (?, ...)``) for each of ``rows``.

    SQLite's ``executemany`` steps one prepared statement per row in-process, which is as
    cheap as it gets; PostgreSQL gets a COPY of the statement's table and columns (so a
    column added to an insert is copied with it), or multi-row statements of ``MULTI_ROW``
    rows for a few rows."""
    if not (isinstance(conn, Cursor) and conn.postgres) or len(rows) == 1:
        conn.executemany(sql, rows)
        return
    head, _, values = sql.partition(" VALUES ")
    if len(rows) >= COPY_ROWS and values.endswith(")") and ") " not in values:
        with conn.unpipelined(), conn.raw.copy(
                "COPY " + head.removeprefix("INSERT INTO ") + " FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    from psycopg import RawCursor  # only installed where PostgreSQL is used
    # A raw cursor takes PostgreSQL's own $n placeholders: psycopg would otherwise parse
    # every long statement for its %s ones, which costs more than the server's work.
    raw = RawCursor(conn.raw.connection)
    width = len(rows[0])
    for start in range(0, len(rows), MULTI_ROW):
        chunk = rows[start:start + MULTI_ROW]
        marks = ", ".join(
            "(" + ", ".join(f"${k + 1}" for k in range(i * width, (i + 1) * width)) + ")"
            for i in range(len(chunk)))
        raw.execute(f"{head} VALUES {marks}", [value for row in chunk for value in row])
