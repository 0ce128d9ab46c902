"""Follow-up cases (督办) in the fact store: when each case was opened, answered, made more
severe and closed, with both times, so the follow-up list answers for any ``as_of``."""
from __future__ import annotations

import sqlite3
from typing import Any, Callable

from domain.followup import FollowUpCase

TABLES = ("followup", "followup_event")


def schema(p: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {p}followup ("
        " id TEXT PRIMARY KEY, subject_type TEXT NOT NULL, subject_id TEXT NOT NULL,"
        " rule TEXT NOT NULL, responsible_id TEXT NOT NULL, responsible_region TEXT NOT NULL,"
        " severity TEXT NOT NULL, day TEXT NOT NULL, recorded_at TEXT NOT NULL,"
        " closed_day TEXT, closed_at TEXT, resolution TEXT, position INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {p}followup_region ON {p}followup (responsible_region, id)",
        # An organisation's cases (its 消息: projections.messages)
        f"CREATE INDEX IF NOT EXISTS {p}followup_responsible ON {p}followup (responsible_id)",
        # responded (text=the answer), updated (value=the new severity)
        f"CREATE TABLE IF NOT EXISTS {p}followup_event ("
        " position INTEGER PRIMARY KEY, case_id TEXT NOT NULL, kind TEXT NOT NULL,"
        " day TEXT NOT NULL, recorded_at TEXT NOT NULL, value TEXT, text TEXT)",
        f"CREATE INDEX IF NOT EXISTS {p}followup_event_case ON {p}followup_event (case_id, position)",
    ]


def handlers(region: Callable[[sqlite3.Connection, str, Any], str],
             day_of: Callable[[Any], str], stamp: Callable[[Any], str]) -> dict[type, Callable]:
    """The Projector's handlers for FollowUpCase events (``region`` looks up an organisation's
    region; ``day_of`` and ``stamp`` are the fact store's two times)."""

    def opened(conn, p, e, position) -> None:
        conn.execute(
            f"INSERT INTO {p}followup (id, subject_type, subject_id, rule, responsible_id,"
            " responsible_region, severity, day, recorded_at, position)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(e.originator_id), e.subject_type, str(e.subject_id), e.rule,
             str(e.responsible_id), region(conn, p, e.responsible_id), e.severity,
             day_of(e.occurred_at), stamp(e.timestamp), position))

    def step(kind: str, value: Callable[[Any], str | None],
             text: Callable[[Any], str | None] = lambda e: None) -> Callable:
        def handler(conn, p, e, position) -> None:
            conn.execute(
                f"INSERT INTO {p}followup_event (position, case_id, kind, day, recorded_at, value,"
                " text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (position, str(e.originator_id), kind, day_of(e.occurred_at), stamp(e.timestamp),
                 value(e), text(e)))
        return handler

    def closed(conn, p, e, position) -> None:
        conn.execute(f"UPDATE {p}followup SET closed_day = ?, closed_at = ?, resolution = ?"
                     " WHERE id = ?", (day_of(e.occurred_at), stamp(e.timestamp), e.resolution,
                                       str(e.originator_id)))

    return {
        FollowUpCase.FollowUpOpened: opened,
        FollowUpCase.FollowUpResponded: step("responded", lambda e: None, lambda e: e.text),
        FollowUpCase.FollowUpUpdated: step("updated", lambda e: e.severity),
        FollowUpCase.FollowUpClosed: closed,
    }
