"""An aggregate's full event history, each event with its log position.

The log position of each event is read from the event store's own table, because the
library's event store answers events without their positions.  Who may read a history is
the engine's visibility rule (``engine.read``), which the entry point applies first; how
an event reads (times, labels) is the entry point's too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.sqlite import SQLiteApplicationRecorder


@dataclass(frozen=True)
class HistoryPage:
    events: list[tuple[Any, int | None]]  # each event, oldest first, with its log position
    next_cursor: str | None  # the version to read after, for the next page


class HistoryReader:
    def __init__(self, app: Application[UUID]) -> None:
        self.app = app

    def page(self, aggregate_id: UUID, version: int, after: int = 0,
             limit: int = 100) -> HistoryPage:
        """The events after version ``after`` of an aggregate now at ``version``, oldest first."""
        events = list(self.app.repository.event_store.get(aggregate_id, gt=after, limit=limit))
        positions = self.positions(aggregate_id)
        full_page = len(events) == limit and events[-1].originator_version < version
        return HistoryPage([(e, positions.get(e.originator_version)) for e in events],
                           str(events[-1].originator_version) if full_page else None)

    def positions(self, aggregate_id: UUID) -> dict[int, int]:
        """originator_version -> notification id, for one aggregate."""
        recorder = self.app.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(f"SELECT originator_version, rowid FROM {recorder.events_table_name}"
                               " WHERE originator_id = ?", (aggregate_id.hex,))
                return {row[0]: row[1] for row in cursor.fetchall()}
        # Imported here: it needs psycopg, which only the PostgreSQL extra installs.
        from eventsourcing.postgres import PostgresApplicationRecorder

        if isinstance(recorder, PostgresApplicationRecorder):
            table = f"{recorder.datastore.schema}.{recorder.events_table_name}"  # names are ours
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(f"SELECT originator_version, notification_id FROM {table}"
                               " WHERE originator_id = %s", (aggregate_id,))
                return {row["originator_version"]: row["notification_id"]
                        for row in cursor.fetchall()}
        return {}

