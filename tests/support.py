"""Test helpers: fresh stores and a small cast of organisations and users."""
from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator

from domain.base import SYSTEM, Actor
from workflows.store.settings import Settings
from workflows.engine import Engine

COUNTY = "331123"  # 遂昌县


@contextlib.contextmanager
def fresh_settings(tmp_path: Path, database_url: str = "") -> Iterator[Settings]:
    """A store nobody else uses: a SQLite folder, or a new PostgreSQL database."""
    if not database_url:
        yield Settings(home=tmp_path / "var")
        return
    import psycopg  # only needed when the suite runs against PostgreSQL

    name = f"cobuild_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = database_url.rpartition("/")
    try:
        yield Settings(home=tmp_path / "var", database_url=f"{base}/{name}")
    finally:
        drop_database(psycopg, database_url, name)


def drop_database(psycopg, database_url: str, name: str, attempts: int = 20) -> None:
    """``WITH (FORCE)`` ends the test's own connections, but not an autovacuum worker that
    happens to be in the database (only a superuser may): that one finishes within
    seconds, so wait for it rather than fail a test that passed."""
    for attempt in range(attempts):
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


def at(year: int, month: int, day: int, hour: int = 2) -> datetime:
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


@dataclass
class Cast:
    """Two agencies, two villages, their users, a township supervisor and an evaluator."""

    engine: Engine
    admin: Actor
    giver: uuid.UUID
    giver2: uuid.UUID
    village: uuid.UUID
    village2: uuid.UUID
    agency: Actor
    agency2: Actor
    villager: Actor
    villager2: Actor
    supervisor: Actor
    evaluator: Actor
    outsider_supervisor: Actor

    @classmethod
    def create(cls, engine: Engine) -> "Cast":
        admin = engine.authenticate(engine.bootstrap_admin())
        orgs = {}
        for code, name, kind, region in (
            ("G1", "县财政局机关党委", "agency", f"{COUNTY}000000"),
            ("G2", "县供电公司党委", "enterprise", f"{COUNTY}000000"),
            ("V1", "大柘镇石练村党支部", "village", f"{COUNTY}101201"),
            ("V2", "大柘镇黄岩村党支部", "village", f"{COUNTY}101202"),
        ):
            orgs[code] = engine.register_organisation(admin, code, name, kind, region).id

        def user(name: str, role: str, org: str | None = None, region: str | None = None) -> Actor:
            _, token = engine.register_user(admin, name, role, orgs.get(org), region)
            return engine.authenticate(token)

        return cls(
            engine=engine, admin=admin, giver=orgs["G1"], giver2=orgs["G2"],
            village=orgs["V1"], village2=orgs["V2"],
            agency=user("王书记", "agency", "G1"), agency2=user("赵书记", "agency", "G2"),
            villager=user("李支书", "village", "V1"), villager2=user("陈支书", "village", "V2"),
            supervisor=user("镇组织委员", "supervisor", region=f"{COUNTY}101"),
            evaluator=user("考核组", "evaluator", region=COUNTY),
            outsider_supervisor=user("外县督办", "supervisor", region="330100"),
        )

    def pairing_in_force(self, giver=None, village=None) -> uuid.UUID:
        """Propose, accept and sign a pairing between G1 (or giver) and V1 (or village)."""
        e = self.engine
        giver_actor, giver_id = (self.agency, self.giver) if giver is None else giver
        village_actor, village_id = (self.villager, self.village) if village is None else village
        p = e.propose_pairing(giver_actor, giver_id, village_id, date(2025, 1, 1), date(2027, 12, 31))
        e.accept_pairing(village_actor, p.id)
        e.sign_agreement(giver_actor, p.id, e.today())
        e.sign_agreement(village_actor, p.id, e.today())
        return p.id


__all__ = ["Cast", "SYSTEM", "at", "fresh_settings"]
