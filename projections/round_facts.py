"""Evaluation rounds in the fact store: which rounds take ratings and who has rated, so each
side of a pairing finds in its inbox the round in which it still has to rate the other."""
from __future__ import annotations

import sqlite3
from typing import Any, Callable

from domain.evaluation import EvaluationRound

TABLES = ("evaluation_round", "evaluation_rating")
# A round takes joint ratings while open or computed (a late rating reopens it).
RATING_STATES = ("open", "computed")


def schema(p: str) -> list[str]:
    return [
        # state: the round's latest state, whatever the window (the inbox asks about today)
        f"CREATE TABLE IF NOT EXISTS {p}evaluation_round ("
        " id TEXT PRIMARY KEY, year INTEGER NOT NULL, region TEXT NOT NULL,"
        " state TEXT NOT NULL, day TEXT NOT NULL, recorded_at TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {p}evaluation_rating ("
        " round_id TEXT NOT NULL, pairing_id TEXT NOT NULL, side TEXT NOT NULL,"
        " day TEXT NOT NULL, recorded_at TEXT NOT NULL, PRIMARY KEY (round_id, pairing_id, side))",
    ]


def handlers(day_of: Callable[[Any], str], stamp: Callable[[Any], str]) -> dict[type, Callable]:
    def opened(conn: sqlite3.Connection, p: str, e: Any, position: int) -> None:
        conn.execute(
            f"INSERT INTO {p}evaluation_round (id, year, region, state, day, recorded_at)"
            " VALUES (?, ?, ?, 'open', ?, ?)",
            (str(e.originator_id), e.year, e.region, day_of(e.occurred_at), stamp(e.timestamp)))

    def rated(conn: sqlite3.Connection, p: str, e: Any, position: int) -> None:
        conn.execute(
            f"INSERT INTO {p}evaluation_rating (round_id, pairing_id, side, day, recorded_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (str(e.originator_id), str(e.pairing_id), e.by_side, day_of(e.occurred_at),
             stamp(e.timestamp)))
        to_state("open")(conn, p, e, position)

    def to_state(state: str) -> Callable:
        def handler(conn: sqlite3.Connection, p: str, e: Any, position: int) -> None:
            conn.execute(f"UPDATE {p}evaluation_round SET state = ? WHERE id = ?",
                         (state, str(e.originator_id)))
        return handler

    def resolved(conn: sqlite3.Connection, p: str, e: Any, position: int) -> None:
        if e.resolution == "upheld":
            to_state("open")(conn, p, e, position)

    return {
        EvaluationRound.EvaluationOpened: opened,
        EvaluationRound.JointRatingSubmitted: rated,
        EvaluationRound.SatisfactionRecorded: to_state("open"),
        EvaluationRound.ScoresComputed: to_state("computed"),
        EvaluationRound.ResultPublicised: to_state("publicised"),
        EvaluationRound.ObjectionResolved: resolved,
        EvaluationRound.PublicityEnded: to_state("publicity_ended"),
        EvaluationRound.ResultFinalised: to_state("finalised"),
    }
