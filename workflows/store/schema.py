"""The database schema: created once, upgraded on purpose, never raced.

Several processes start side by side in production (gunicorn workers, ``cobuild worker``,
``cobuild relay``).  If each created its tables on start, their ``CREATE`` statements would
race (``eventsourcing.postgres`` also replaces a function on every construction).  So the
schema is a list of numbered steps, applied by ``cobuild init`` / ``cobuild migrate`` under
the ``migrate`` lease and recorded in the table ``cobuild_schema`` of the same database
(PostgreSQL, or the event store's SQLite file).  Every process then calls
:func:`ensure_schema` and constructs its stores with ``CREATE_TABLE=n``.

A store registers its DDL with :func:`step` when its module is imported; the composition
root (``api/root.py``) imports every store, so ``cobuild migrate`` knows them all.  A component
this database has never seen is installed when a process first needs it; one that is behind
this code waits for ``cobuild migrate``.  Steps must be idempotent
(``CREATE ... IF NOT EXISTS``): a crash between a step and its record
runs the step again.  Steps only add (tables, columns, indexes), so processes of the previous
release keep working while a rolling upgrade replaces them; removing something takes two
releases.
"""
from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from workflows.store.settings import Settings
from workflows.store.leases import acquire

# The event store comes first: the other stores only add tables beside it.
FIRST_COMPONENTS = ("events", "audit")

MIGRATE_TIMEOUT = 600.0  # seconds a second `cobuild migrate` waits for the first


@dataclass(frozen=True)
class Step:
    component: str
    version: int
    description: str
    apply: Callable[[Settings], None]


_steps: list[Step] = []


Apply = Callable[[Settings], None]


def step(component: str, version: int, description: str) -> Callable[[Apply], Apply]:
    """Register ``apply(settings)`` as version ``version`` of ``component``'s schema."""

    def register(apply: Callable[[Settings], None]) -> Callable[[Settings], None]:
        if any(s.component == component and s.version == version for s in _steps):
            raise ValueError(f"schema step {component} v{version} is registered twice")
        _steps.append(Step(component, version, description, apply))
        return apply

    return register


def steps() -> list[Step]:
    order = {name: rank for rank, name in enumerate(FIRST_COMPONENTS)}
    for s in _steps:
        order.setdefault(s.component, len(order))
    return sorted(_steps, key=lambda s: (order[s.component], s.version))


class SchemaOutdated(RuntimeError):
    def __init__(self, pending: list[Step]) -> None:
        names = ", ".join(f"{s.component} v{s.version}" for s in pending)
        super().__init__(f"the database schema needs upgrading ({names}): run `cobuild migrate`")
        self.pending = pending


# -- the record of applied steps ---------------------------------------------------------

class Ledger:
    """``cobuild_schema(component, version, applied_at)``: the highest version applied."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn: Any  # a psycopg or a sqlite3 connection, as the settings say
        if settings.is_postgres:
            import psycopg

            self.conn = psycopg.connect(settings.database_url, autocommit=True)
            self.exists_sql = "SELECT to_regclass('cobuild_schema') IS NOT NULL"
            self.create_sql = ("CREATE TABLE IF NOT EXISTS cobuild_schema (component text PRIMARY KEY, "
                               "version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            self.record_sql = ("INSERT INTO cobuild_schema (component, version) VALUES (%s, %s) "
                               "ON CONFLICT (component) DO UPDATE SET version = excluded.version, "
                               "applied_at = now()")
        else:
            settings.ensure_home()
            self.conn = sqlite3.connect(settings.eventsourcing_env()["SQLITE_DBNAME"], timeout=30,
                                        isolation_level=None)
            self.exists_sql = ("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                               "AND name = 'cobuild_schema'")
            self.create_sql = ("CREATE TABLE IF NOT EXISTS cobuild_schema (component TEXT PRIMARY KEY, "
                               "version INTEGER NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
            self.record_sql = ("INSERT INTO cobuild_schema (component, version) VALUES (?, ?) "
                               "ON CONFLICT (component) DO UPDATE SET version = excluded.version, "
                               "applied_at = CURRENT_TIMESTAMP")

    def versions(self) -> dict[str, int]:
        if not self.conn.execute(self.exists_sql).fetchone()[0]:
            return {}
        return dict(self.conn.execute("SELECT component, version FROM cobuild_schema").fetchall())

    def create(self) -> None:
        self.conn.execute(self.create_sql)

    def record(self, s: Step) -> None:
        self.conn.execute(self.record_sql, (s.component, s.version))

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def open_ledger(settings: Settings) -> Iterator[Ledger]:
    ledger = Ledger(settings)
    try:
        yield ledger
    finally:
        ledger.close()


def applied_versions(settings: Settings) -> dict[str, int]:
    with open_ledger(settings) as ledger:
        return ledger.versions()


def pending(settings: Settings, applied: dict[str, int] | None = None) -> list[Step]:
    applied = applied_versions(settings) if applied is None else applied
    return [s for s in steps() if s.version > applied.get(s.component, 0)]


def status(settings: Settings) -> list[tuple[str, int, int]]:
    """``(component, version this code knows, version the database has)`` per component."""
    applied = applied_versions(settings)
    known: dict[str, int] = {}
    for s in steps():
        known[s.component] = max(known.get(s.component, 0), s.version)
    return [(c, v, applied.get(c, 0)) for c, v in known.items()]


def migrate(settings: Settings) -> list[Step]:
    """Apply the pending steps, one process at a time; returns what this call applied."""
    settings.ensure_home()
    done: list[Step] = []
    with acquire(settings, "migrate", wait=True, timeout=MIGRATE_TIMEOUT, poll=0.2):
        with open_ledger(settings) as ledger:
            ledger.create()
            applied = ledger.versions()
            for s in steps():
                if s.version > applied.get(s.component, 0):
                    s.apply(replace(settings, create_tables=True))
                    ledger.record(s)
                    done.append(s)
    return done


def ensure_schema(settings: Settings) -> Settings:
    """The settings a process runs with, once the schema is in place.

    A database that has no schema yet is given one (first start, and every test's fresh
    database); one that is behind this code is refused, because upgrading is the operator's
    decision (``cobuild migrate``), not a side effect of a worker restarting.
    """
    applied = applied_versions(settings)
    missing = pending(settings, applied)
    if missing:
        # Look again under the lease: a process starting while another applies the first
        # install's steps would otherwise see them half applied and call the schema outdated.
        settings.ensure_home()
        with acquire(settings, "migrate", wait=True, timeout=MIGRATE_TIMEOUT, poll=0.2):
            applied = applied_versions(settings)
            missing = pending(settings, applied)
        behind = [s for s in missing if s.component in applied]
        if behind:
            raise SchemaOutdated(behind)
        if missing:
            migrate(settings)
    return replace(settings, create_tables=False) if settings.is_postgres else settings
