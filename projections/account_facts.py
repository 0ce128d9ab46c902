"""User accounts in the fact store, so admins can list the users of their region (never a
token or any other secret: those are not in the events either)."""
from __future__ import annotations

import sqlite3
from typing import Any, Callable

from domain.user import User

TABLES = ("account",)


def schema(p: str) -> list[str]:
    return [
        # region_code: the user's own region (admin, supervisor, evaluator) or its
        # organisation's (agency, village), so one prefix test scopes both.
        f"CREATE TABLE IF NOT EXISTS {p}account ("
        " id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, organisation_id TEXT,"
        " region_code TEXT NOT NULL, state TEXT NOT NULL, day TEXT NOT NULL,"
        " recorded_at TEXT NOT NULL, deactivated_day TEXT, position INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {p}account_region ON {p}account (region_code, id)",
        f"CREATE INDEX IF NOT EXISTS {p}account_org ON {p}account (organisation_id)",
    ]


def handlers(region: Callable[[sqlite3.Connection, str, Any], str],
             day_of: Callable[[Any], str], stamp: Callable[[Any], str]) -> dict[type, Callable]:
    def registered(conn, p, e, position) -> None:
        org = e.organisation_id
        conn.execute(
            f"INSERT INTO {p}account (id, name, role, organisation_id, region_code, state, day,"
            " recorded_at, position) VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)",
            (str(e.originator_id), e.name, e.role, str(org) if org else None,
             region(conn, p, org) if org else (e.region_code or ""), day_of(e.occurred_at),
             stamp(e.timestamp), position))

    def deactivated(conn, p, e, position) -> None:
        conn.execute(f"UPDATE {p}account SET state = 'deactivated', deactivated_day = ?"
                     " WHERE id = ?", (day_of(e.occurred_at), str(e.originator_id)))

    return {User.UserRegistered: registered, User.UserDeactivated: deactivated}
