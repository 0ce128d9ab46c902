"""The worker: follows the event log, reacts to it, and fires due timers.

Its own state is the side store ``worker`` (:class:`SqlStore`: tables ``worker_*`` of the
PostgreSQL database in production, ``<home>/worker.sqlite`` embedded): the position it has
followed the log to, an index of pending timers by due time, which commitments and tasks
belong to which pairing, and when each pairing last resumed after a suspension.  All of it
is derived from the event log and can be rebuilt from zero; the timers themselves are
events (``domain.timer``).

Why a kill at any moment is safe:
- an event is indexed (idempotent upserts), then reacted to (a reconciliation that writes
  nothing the second time), then the position is saved; a kill anywhere in between repeats
  the event and changes nothing twice;
- a timer fires in one transaction with its effect; a fired timer is not due any more, so a
  kill before or after that transaction neither loses nor doubles the firing;
- timers fire one at a time, each after the follower has caught up, so a restarted worker
  takes exactly the steps the first one would have taken.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Protocol
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.commitment import PublicCommitment
from domain.pairing import Pairing
from domain.task import ServiceTask
from domain.timer import Timer
from workflows.store import schema
from workflows.store.clock import local_date
from workflows.store.outages import OutageWatch, keep_running
from workflows.store.settings import Settings
from workflows.core import EngineCore
from workflows.errors import ConcurrencyConflict
from workflows.policies import WorkflowPolicies
from workflows.store.sqlstore import SqlStore

FOLLOWER = "policies"
log = logging.getLogger("cobuild.worker")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS worker_position (name TEXT PRIMARY KEY, position BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS worker_timers (
    timer_id TEXT PRIMARY KEY, due_at TEXT NOT NULL, armed_at BIGINT NOT NULL,
    subject_type TEXT NOT NULL, subject_id TEXT NOT NULL, purpose TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS worker_timers_due ON worker_timers (due_at, armed_at);
CREATE TABLE IF NOT EXISTS worker_timer_subjects (
    timer_id TEXT PRIMARY KEY, subject_type TEXT NOT NULL, subject_id TEXT NOT NULL,
    purpose TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS worker_commitment_links (
    commitment_id TEXT PRIMARY KEY, pairing_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS worker_commitment_links_pairing ON worker_commitment_links (pairing_id);
CREATE TABLE IF NOT EXISTS worker_task_links (
    task_id TEXT PRIMARY KEY, receiver_id TEXT NOT NULL, claimer_id TEXT);
CREATE INDEX IF NOT EXISTS worker_task_links_pair ON worker_task_links (receiver_id, claimer_id);
CREATE TABLE IF NOT EXISTS worker_pairing_resumptions (
    pairing_id TEXT PRIMARY KEY, resumed_on TEXT NOT NULL)
"""

@schema.step("worker", 1, "the worker's followed position, timer index and subject links")
def _worker_schema(settings: Settings) -> None:
    store = SqlStore(settings, "worker", pool_size=1)
    try:
        store.script(_SCHEMA)
    finally:
        store.close()


def _utc_key(moment: datetime) -> str:
    """A due time as text that sorts in time order."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


class WorkerState:
    """The worker's derived state: its followed position, pending timers, subject links."""

    def __init__(self, settings: Settings) -> None:
        self.store = SqlStore(settings, "worker", pool_size=2)

    def close(self) -> None:
        self.store.close()

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        with self.store.write() as cur:
            for sql, params in statements:
                cur.execute(sql, params)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.store.read() as cur:
            return cur.execute(sql, params).fetchall()

    # -- position ------------------------------------------------------------------------

    def position(self, name: str = FOLLOWER) -> int:
        rows = self._read("SELECT position FROM worker_position WHERE name = ?", (name,))
        return rows[0][0] if rows else 0

    def save_position(self, name: str, position: int) -> None:
        self._write([("INSERT INTO worker_position (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                      "SET position = excluded.position", (name, position))])

    # -- the index -----------------------------------------------------------------------

    def index(self, event: DomainEventProtocol[UUID], position: int) -> None:
        """Apply what ``event`` (at ``position`` in the log) changes in the index.
        Idempotent: safe to apply twice."""
        statements = list(_index_statements(event, position))
        if statements:
            self._write(statements)

    def due_timers(self, now: datetime, limit: int = 10) -> list[UUID]:
        rows = self._read("SELECT timer_id FROM worker_timers WHERE due_at <= ? "
                          "ORDER BY due_at, armed_at LIMIT ?", (_utc_key(now), limit))
        return [UUID(r[0]) for r in rows]

    def next_due(self) -> datetime | None:
        """When the earliest pending timer is due (the demo walks its clock from one to the next)."""
        rows = self._read("SELECT MIN(due_at) FROM worker_timers")
        if not rows or rows[0][0] is None:
            return None
        return datetime.fromisoformat(rows[0][0]).replace(tzinfo=timezone.utc)

    def pending_timers(self) -> int:
        return self._read("SELECT COUNT(*) FROM worker_timers")[0][0]

    def live_subjects(self) -> list[tuple[str, UUID]]:
        rows = self._read("SELECT DISTINCT subject_type, subject_id FROM worker_timers "
                          "ORDER BY subject_type, subject_id")
        return [(r[0], UUID(r[1])) for r in rows]

    def commitments_of(self, pairing_id: UUID) -> list[UUID]:
        rows = self._read("SELECT commitment_id FROM worker_commitment_links WHERE pairing_id = ? "
                          "ORDER BY commitment_id", (str(pairing_id),))
        return [UUID(r[0]) for r in rows]

    def resumed_on(self, pairing_id: UUID) -> date | None:
        """The latest resumption after a suspension (R2 counts from it)."""
        rows = self._read("SELECT resumed_on FROM worker_pairing_resumptions WHERE pairing_id = ?",
                          (str(pairing_id),))
        return date.fromisoformat(rows[0][0]) if rows else None

    def tasks_between(self, giver_id: UUID, receiver_id: UUID) -> list[UUID]:
        rows = self._read("SELECT task_id FROM worker_task_links WHERE receiver_id = ? AND claimer_id = ? "
                          "ORDER BY task_id", (str(receiver_id), str(giver_id)))
        return [UUID(r[0]) for r in rows]


def _index_statements(event: DomainEventProtocol[UUID],
                      position: int) -> Iterable[tuple[str, tuple[Any, ...]]]:
    """Timers due at the same moment fire in the order they were armed, which is the same
    in every run of the same history (their ids are not)."""
    subject = str(event.originator_id)
    if isinstance(event, (Timer.TimerScheduled, Timer.TimerRescheduled)):
        if isinstance(event, Timer.TimerScheduled):
            kind, about, purpose = event.subject_type, str(event.subject_id), event.purpose
            yield ("INSERT INTO worker_timer_subjects (timer_id, subject_type, subject_id, purpose) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (timer_id) DO NOTHING",
                   (subject, kind, about, purpose))
            yield ("INSERT INTO worker_timers (timer_id, due_at, armed_at, subject_type, subject_id, "
                   "purpose) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (timer_id) DO UPDATE "
                   "SET due_at = excluded.due_at, armed_at = excluded.armed_at",
                   (subject, _utc_key(event.due_at), position, kind, about, purpose))
        else:
            # a fired or cancelled timer has no row any more: re-arming brings it back
            yield ("INSERT INTO worker_timers (timer_id, due_at, armed_at, subject_type, subject_id, "
                   "purpose) SELECT timer_id, ?, ?, subject_type, subject_id, purpose FROM "
                   "worker_timer_subjects WHERE timer_id = ? ON CONFLICT (timer_id) DO UPDATE "
                   "SET due_at = excluded.due_at, armed_at = excluded.armed_at",
                   (_utc_key(event.due_at), position, subject))
    elif isinstance(event, (Timer.TimerFired, Timer.TimerCancelled)):
        yield ("DELETE FROM worker_timers WHERE timer_id = ?", (subject,))
    elif isinstance(event, PublicCommitment.CommitmentMade):
        yield ("INSERT INTO worker_commitment_links (commitment_id, pairing_id) VALUES (?, ?) "
               "ON CONFLICT (commitment_id) DO NOTHING",
               (subject, str(event.pairing_id)))
    elif isinstance(event, ServiceTask.NeedRaised):
        yield ("INSERT INTO worker_task_links (task_id, receiver_id, claimer_id) VALUES (?, ?, NULL) "
               "ON CONFLICT (task_id) DO NOTHING",
               (subject, str(event.receiver_id)))
    elif isinstance(event, ServiceTask.TaskClaimed):
        yield ("UPDATE worker_task_links SET claimer_id = ? WHERE task_id = ?",
               (str(event.giver_id), subject))
    elif isinstance(event, ServiceTask.ClaimWithdrawn):
        yield ("UPDATE worker_task_links SET claimer_id = NULL WHERE task_id = ?", (subject,))
    elif isinstance(event, Pairing.PairingResumed):
        # Keeps the latest: an older resumption replayed must not move it back.
        yield ("INSERT INTO worker_pairing_resumptions (pairing_id, resumed_on) VALUES (?, ?) "
               "ON CONFLICT (pairing_id) DO UPDATE SET resumed_on = excluded.resumed_on "
               "WHERE worker_pairing_resumptions.resumed_on < excluded.resumed_on",
               (subject, local_date(event.occurred_at).isoformat()))


class Checkpoint(Protocol):
    """Called at every point where a kill could land; tests use it to inject crashes."""

    def __call__(self, where: str) -> None: ...


def _no_checkpoint(where: str) -> None:
    return None


@dataclass
class DrainReport:
    events: int = 0
    fired: int = 0
    effects: dict[str, int] | None = None
    projected: int = 0  # events the followers (projections) applied


# How often (by the engine's clock) a running worker deletes what is kept only for a while.
TIDY_EVERY = timedelta(minutes=10)


class Worker:
    """Follows the log, runs the policies, fires due timers; and any extra followers
    (projections) given, each with a ``catch_up()`` that returns how much it processed.

    While it runs it also tidies now and then (``tidy``): the expired Idempotency-Key
    receipts, and whatever else ``chores`` delete (the API's kept answers).  Only the holder
    of the scheduler's lease runs, so one process tidies at a time, and every chore is a
    plain delete of what expired, safe beside writers and repeated by the next round if
    an outage cut it short."""

    def __init__(self, engine: EngineCore, state: WorkerState,
                 followers: Iterable[Any] = (), checkpoint: Checkpoint = _no_checkpoint,
                 batch_size: int = 500, chores: Iterable[Callable[[], Any]] = ()) -> None:
        self.engine = engine
        self.state = state
        self.policies = WorkflowPolicies(engine, state)
        self.followers = list(followers)
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.chores: list[Callable[[], Any]] = [engine.purge_receipts, *chores]
        self._tidied_at: datetime | None = None
        self._stop = threading.Event()

    # -- the follower ----------------------------------------------------------------------

    def catch_up(self) -> int:
        """React to every event recorded after the followed position."""
        processed = 0
        position = self.state.position(FOLLOWER)
        while True:
            notifications = self.engine.recorder.select_notifications(
                start=position, limit=self.batch_size, inclusive_of_start=False)
            if not notifications:
                return processed
            for notification in notifications:
                event = self.engine.mapper.to_domain_event(notification)
                self.state.index(event, notification.id)
                self.checkpoint("indexed")
                self.policies.react(event)
                self.checkpoint("reacted")
                self.state.save_position(FOLLOWER, notification.id)
                self.checkpoint("followed")
                position = notification.id
                processed += 1

    # -- the scheduler ---------------------------------------------------------------------

    def fire_next(self) -> str | None:
        """Fire the earliest due timer.  Returns its effect, or None if none is due."""
        now = self.engine.clock.now()
        for timer_id in self.state.due_timers(now):
            effect = self.policies.fire(timer_id)
            if effect is not None:
                self.checkpoint("fired")
                return effect
        return None

    def drain(self) -> DrainReport:
        """Catch up and fire until nothing is left to do at the clock's current time."""
        report = DrainReport(effects={})
        while True:
            try:
                report.events += self.catch_up()
                for follower in self.followers:
                    report.projected += follower.catch_up()
                effect = self.fire_next()
            except ConcurrencyConflict:
                continue  # someone wrote the same aggregate: reload and reconcile again
            if effect is None:
                return report
            report.fired += 1
            assert report.effects is not None
            report.effects[effect] = report.effects.get(effect, 0) + 1

    def tidy(self) -> bool:
        """Run the chores if ``TIDY_EVERY`` passed since they last ran (or never did)."""
        now = self.engine.clock.now()
        if self._tidied_at is not None and now - self._tidied_at < TIDY_EVERY:
            return False
        for chore in self.chores:
            chore()
        self._tidied_at = now
        return True

    def run(self, interval: float = 1.0, on_drain: Callable[[DrainReport], None] | None = None,
            say: Callable[[str], None] = log.warning,
            check: Callable[[], None] | None = None) -> None:
        """Drain every ``interval`` seconds until :meth:`stop`; ``check`` (the lease's) runs
        before every round and ends the loop by raising if the role was lost.

        A store outage (database restarting, disk full or read-only) is ridden out with
        backoff: every step of a drain is safe to repeat (see the module's docstring), so
        the next round resumes from the saved positions; ``say`` gets one line when the
        outage starts and one when it ends."""
        def round_() -> None:
            report = self.drain()
            self.tidy()
            if on_drain is not None and (report.events or report.fired or report.projected):
                on_drain(report)

        keep_running(round_, self._stop, interval, OutageWatch("worker", say),
                     resumed=lambda: f"following the log from position {self.state.position()}",
                     check=check)

    def stop(self) -> None:
        self._stop.set()


def open_worker_state(settings: Settings) -> WorkerState:
    return WorkerState(settings)
