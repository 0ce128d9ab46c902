"""An aggregate's full event history, each event with who, when and its log position.

The log position of each event is read from the event store's own table, because the
library's event store answers events without their positions.  Who may read a history is
the engine's visibility rule (``engine.read``), which the entry point applies first.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.sqlite import SQLiteApplicationRecorder

ATTRIBUTION = ("originator_id", "originator_version", "timestamp", "actor", "on_behalf_of",
               "occurred_at", "reason")


@dataclass(frozen=True)
class HistoryPage:
    items: list[dict[str, Any]]
    next_cursor: str | None  # the version to read after, for the next page


class HistoryReader:
    def __init__(self, app: Application[UUID]) -> None:
        self.app = app

    def page(self, aggregate_id: UUID, version: int, after: int = 0,
             limit: int = 100) -> HistoryPage:
        """The events after version ``after`` of an aggregate now at ``version``, oldest first."""
        events = list(self.app.repository.event_store.get(aggregate_id, gt=after, limit=limit))
        positions = self.positions(aggregate_id)
        items = [history_item(e, positions.get(e.originator_version)) for e in events]
        full_page = len(events) == limit and events[-1].originator_version < version
        return HistoryPage(items, str(events[-1].originator_version) if full_page else None)

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


def history_item(event: Any, position: int | None) -> dict[str, Any]:
    fields = vars(event)
    occurred = fields.get("occurred_at")
    return {
        "position": position,
        "type": type(event).__name__,
        "version": event.originator_version,
        "occurred_at": occurred.isoformat() if isinstance(occurred, datetime) else None,
        "recorded_at": event.timestamp.isoformat(),
        "actor": fields.get("actor"),
        "on_behalf_of": plain(fields.get("on_behalf_of")),
        "reason": fields.get("reason"),
        "data": {k: plain(v) for k, v in fields.items() if k not in ATTRIBUTION},
    }


def plain(value: Any) -> Any:
    """Event values as JSON: ids, dates, times and amounts as strings."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return str(value)
