"""区划: the names of divisions in the fact store, so a page or an answer names a township
by a primary-key or index lookup instead of working it out from its villages."""
from __future__ import annotations

import sqlite3
from typing import Any, Callable

from domain.region import Region, level_of, parent_of

TABLES = ("region",)


def schema(p: str) -> list[str]:
    return [
        # code: the division at its own level (2, 4, 6, 9 or 12 digits); parent: one level up.
        f"CREATE TABLE IF NOT EXISTS {p}region ("
        " code TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent TEXT,"
        " day TEXT NOT NULL, recorded_at TEXT NOT NULL)",
        # A region's divisions of one level (a county's townships): a range on the code.
        f"CREATE INDEX IF NOT EXISTS {p}region_level ON {p}region (level, code)",
    ]


def handlers(day_of: Callable[[Any], str], stamp: Callable[[Any], str]) -> dict[type, Callable]:
    def named(conn: sqlite3.Connection, p: str, e: Any, position: int) -> None:
        conn.execute(
            f"INSERT INTO {p}region (code, name, level, parent, day, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (e.code, e.name, level_of(e.code), parent_of(e.code), day_of(e.occurred_at),
             stamp(e.timestamp)))

    def renamed(conn: sqlite3.Connection, p: str, e: Any, position: int) -> None:
        conn.execute(f"UPDATE {p}region SET name = ? WHERE code = ?", (e.name, e.code))

    return {Region.RegionNamed: named, Region.RegionRenamed: renamed}

