"""Follows the engine's event log into the fact store, each event applied exactly once.

The SQLite event store cannot be subscribed to, so the runner polls the log from the
tracked position (``facts.log_reader``: the SQLite table directly, else
``recorder.select_notifications``) and decodes what the fact store reads from the stored
JSON itself (``Projector.decoder``; the mapper where that is not safe).  One batch is one write
transaction on the projection database: it reads the active version and its tracked
position, applies the events after it, and moves the position to the batch's end, all
committed together.  A runner killed anywhere loses the whole open batch or none of it,
and the next run starts where the last commit left off.  Writers are serialised by the
projection database, so two runners (or a runner and a rebuild) never apply the same event.

Rebuilds are blue/green: a new version of the fact tables is filled from position zero
while the active version keeps serving reads and following the log; once the new version
has caught up, the switch happens in the same transaction as its last batch.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from eventsourcing.application import Application

from projections import facts
from workflows.store.outages import OutageWatch, keep_running
from projections.store import (
    ProjectionDatabase, active_version, forget_tracking, set_active_version,
    set_tracked_position, tracked_position,
)

NAME = "facts"
log = logging.getLogger("cobuild.projections")
# Events per transaction while rebuilding: big enough that commits cost nothing, small
# enough that a runner following the log waits a fraction of a second for the write lock.
REBUILD_BATCH = 10_000


def tracking_name(version: int) -> str:
    return f"{NAME}@v{version}"


def prefix(version: int) -> str:
    return f"v{version}_"


@dataclass(frozen=True)
class Status:
    active_version: int | None
    position: int
    head: int
    building: dict[int, int]

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    def as_dict(self) -> dict[str, Any]:
        return {"active_version": self.active_version, "position": self.position,
                "head": self.head, "lag": self.lag,
                "building": {f"v{v}": p for v, p in self.building.items()}}


class ProjectionRunner:
    def __init__(self, app: Application[Any], db: ProjectionDatabase,
                 batch_size: int = 1000) -> None:
        self.app = app
        self.db = db
        self.batch_size = batch_size
        self.projector = facts.Projector()
        self.reader = facts.log_reader(app.recorder)
        self.decode = self.projector.decoder(app.mapper, self.reader)
        self.topics = self.projector.topics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.ensure_active()

    # -- versions ----------------------------------------------------------------------------

    def ensure_active(self) -> int:
        """The active version, created if there is none and rebuilt if an older version of
        this code built it (its tables lack what the reports now read)."""
        self.db.ensure_schema()
        with self.db.write() as conn:
            version = active_version(conn, NAME)
            if version is None:
                version = 1
                self._create(conn, version)
                set_active_version(conn, NAME, version)
            current = facts.is_current(conn, prefix(version))
        return version if current else self.rebuild()

    def _create(self, conn, version: int, indexed: bool = True) -> None:
        self.db.execute_ddl(conn, facts.schema(prefix(version)) if indexed
                            else facts.tables(prefix(version)))
        set_tracked_position(conn, tracking_name(version), 0)

    def _versions(self, conn) -> dict[int, int]:
        rows = conn.execute("SELECT name, position FROM projection_tracking WHERE name LIKE ?",
                            (f"{NAME}@v%",)).fetchall()
        return {int(name.split("@v", 1)[1]): position for name, position in rows}

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def status(self) -> Status:
        with self.db.read() as conn:
            version = active_version(conn, NAME)
            versions = self._versions(conn)
        position = versions.pop(version, 0) if version is not None else 0
        return Status(version, position, self.head(), versions)

    # -- applying events ------------------------------------------------------------------

    def _apply_batch(self, conn, version: int, size: int | None = None) -> int:
        """Apply the next batch to ``version`` inside the caller's transaction."""
        size = size or self.batch_size
        name = tracking_name(version)
        position = tracked_position(conn, name) or 0
        head = self.head()
        if head <= position:
            return 0
        rows = self.reader.read(position, head, size, self.topics)
        decode, apply = self.decode, self.projector.apply_fact
        table_prefix = prefix(version)
        self.projector.begin(table_prefix)
        for row in rows:
            apply(conn, table_prefix, decode(row))
        self.projector.finish(conn, table_prefix)
        # A short batch means every event up to head that this projection reads is applied;
        # the events in between are for other readers, so the position moves past them too.
        full = len(rows) == size
        set_tracked_position(conn, name, rows[-1][0] if full else head)
        return len(rows) if full else max(len(rows), 1)

    def catch_up(self) -> int:
        """Apply everything recorded so far to the active version; returns events applied."""
        applied = 0
        while True:
            with self.db.write() as conn:
                done = self._apply_batch(conn, _active(conn))
            if done == 0:
                return applied
            applied += done

    def position(self) -> int:
        with self.db.read() as conn:
            return tracked_position(conn, tracking_name(_active(conn))) or 0

    def wait(self, position: int | None, timeout: float = 10.0, interval: float = 0.02) -> None:
        """Return once the log up to ``position`` is applied (read-your-writes).

        Without a background thread the caller's own thread catches up."""
        if position is None:
            return
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if self._thread is None:
                self.catch_up()
                continue
            if self.error is not None:
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"projections did not reach position {position} in {timeout}s")
            time.sleep(interval)

    # -- background following -------------------------------------------------------------

    def start(self, interval: float = 0.2, say: Callable[[str], None] = log.warning) -> None:
        """Follow the log in a background thread.  A store outage is ridden out with backoff
        (each batch commits with its position, so the next resumes where the last left off),
        saying one line to ``say`` when it starts and one when it ends; any other error ends
        the thread and is raised to whoever waits or stops."""
        def follow() -> None:
            try:
                keep_running(self.catch_up, self._stop, interval, OutageWatch("projections", say),
                             resumed=lambda: f"following the log from position {self.position()}")
            except BaseException as error:  # handed to whoever waits or stops
                self.error = error

        self._stop.clear()
        self._thread = threading.Thread(target=follow, name="projections", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error

    # -- rebuilding ---------------------------------------------------------------------------

    def rebuild(self) -> int:
        """Build a new version from position zero beside the serving one, then switch.

        Returns the new active version.  A rebuild that was interrupted left its half-built
        tables behind; they are dropped and the rebuild starts again from zero.

        The new tables are filled without their secondary indexes, in batches of at least
        ``REBUILD_BATCH`` events, on a connection that does not sync (see
        ``ProjectionDatabase.unsynced``), appending rows per statement and leaving the
        columns that follow from them to the end; those (``Projector.complete``), then
        the indexes, are built in the transaction that switches, so the version serves
        complete.  All of it with a bounded page cache
        (``ProjectionDatabase.rebuilding``), so its memory does not grow with the data."""
        with self.db.write() as conn:
            serving = active_version(conn, NAME)
            versions = self._versions(conn)
            for leftover in versions:
                if leftover != serving:
                    self._drop(conn, leftover)
            new = max([*versions, serving or 0]) + 1
            self._create(conn, new, indexed=False)
        size = max(self.batch_size, REBUILD_BATCH)
        self.projector.bulk.add(prefix(new))
        try:
            with self.db.rebuilding():
                with self.db.unsynced():
                    while True:
                        with self.db.write() as conn:
                            if self._apply_batch(conn, new, size) < size:
                                break
                with self.db.write() as conn:
                    # Finish and switch while holding the write lock, so the serving version
                    # cannot move ahead of the new one in between: apply what the log
                    # gained meanwhile, to its end.
                    while True:
                        if not self._apply_batch(conn, new, size):
                            break
                    self.projector.complete(conn, prefix(new))
                    self.db.execute_ddl(conn, facts.indexes(prefix(new)))
                    set_active_version(conn, NAME, new)
        finally:
            self.projector.bulk.discard(prefix(new))
        with self.db.write() as conn:
            if serving is not None:
                self._drop(conn, serving)
        return new

    def _drop(self, conn, version: int) -> None:
        self.db.execute_ddl(conn, facts.drop(prefix(version)))
        forget_tracking(conn, tracking_name(version))


def open_runner(app: Application[Any], settings: Any, batch_size: int = 1000) -> ProjectionRunner:
    return ProjectionRunner(app, ProjectionDatabase.for_settings(settings), batch_size)


def _active(conn: Any) -> int:
    """The active version, which ``ProjectionRunner.ensure_active`` made when it started."""
    version = active_version(conn, NAME)
    if version is None:
        raise RuntimeError("the projections have no active version: ensure_active() first")
    return version
