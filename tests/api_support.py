"""HTTP test helpers: a cast with bearer tokens, a JSON client, and a real server process."""
from __future__ import annotations

import os
import json as jsonlib
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import requests

from api.root import Root
from domain.base import SYSTEM
from projections.evaluations import ProjectionScorer
from projections.runner import open_runner
from tests.support import COUNTY
from workflows.scheduler import Worker, open_worker_state
from workflows.store.clock import FakeClock
from workflows.store.settings import Settings
from workflows.engine import Engine, open_engine

REPO = Path(__file__).resolve().parent.parent
ROLES = ("admin", "supervisor", "agency", "agency2", "village", "village2", "evaluator",
         "outsider")

# Business time at which the API tests' worlds start.
API_START = datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc)


@dataclass
class TokenCast:
    """The cast of tests/support.py, keeping each user's bearer token for HTTP."""

    engine: Engine
    tokens: dict[str, str]
    users: dict[str, uuid.UUID]
    orgs: dict[str, uuid.UUID]
    actors: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, engine: Engine, admin_token: str | None = None) -> "TokenCast":
        admin_token = engine.bootstrap_admin(admin_token)
        admin = engine.authenticate(admin_token)
        orgs = {}
        for code, name, kind, region in (
            ("G1", "县财政局机关党委", "agency", f"{COUNTY}000000"),
            ("G2", "县供电公司党委", "enterprise", f"{COUNTY}000000"),
            ("V1", "大柘镇石练村党支部", "village", f"{COUNTY}101201"),
            ("V2", "大柘镇黄岩村党支部", "village", f"{COUNTY}101202"),
        ):
            orgs[code] = engine.register_organisation(admin, code, name, kind, region).id
        tokens = {"admin": admin_token}
        users = {"admin": uuid.UUID(admin.user_id)}
        for key, name, role, org, region in (
            ("agency", "王书记", "agency", "G1", None),
            ("agency2", "赵书记", "agency", "G2", None),
            ("village", "李支书", "village", "V1", None),
            ("village2", "陈支书", "village", "V2", None),
            ("supervisor", "镇组织委员", "supervisor", None, f"{COUNTY}101"),
            ("evaluator", "考核组", "evaluator", None, COUNTY),
            ("outsider", "外县督办", "supervisor", None, "330100"),
        ):
            outcome, token = engine.register_user(admin, name, role, orgs.get(org), region)
            tokens[key], users[key] = token, outcome.id
        actors = {k: engine.authenticate(t) for k, t in tokens.items()}
        return cls(engine, tokens, users, orgs, actors)

    def pairing(self, until: str = "in_force") -> uuid.UUID:
        """A G1–V1 pairing brought to ``proposed``, ``accepted``, ``in_force`` or ``suspended``."""
        e, a = self.engine, self.actors
        p = e.propose_pairing(a["agency"], self.orgs["G1"], self.orgs["V1"],
                              date(2025, 1, 1), date(2027, 12, 31)).id
        steps = ("proposed", "accepted", "in_force", "suspended")
        if steps.index(until) >= 1:
            e.accept_pairing(a["village"], p)
        if steps.index(until) >= 2:
            e.sign_agreement(a["agency"], p, e.today())
            e.sign_agreement(a["village"], p, e.today())
        if steps.index(until) >= 3:
            e.suspend_pairing(a["supervisor"], p, "整改期间暂停")
        return p


class JsonClient:
    """Flask test client or a live server, spoken to the same way."""

    def __init__(self, flask_client: Any = None, base_url: str | None = None) -> None:
        self.flask_client = flask_client
        self.base_url = base_url
        self.session = requests.Session() if base_url else None

    def request(self, method: str, path: str, token: str | None = None, json: Any = None,
                data: bytes | str | None = None, headers: dict[str, str] | None = None,
                ) -> "Answer":
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if self.session is not None:
            r = self.session.request(method, self.base_url + path, json=json, data=data,
                                     headers=headers, timeout=30)
            return Answer(r.status_code, dict(r.headers), r.content)
        kwargs: dict[str, Any] = {"headers": headers}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        r = self.flask_client.open(path, method=method, **kwargs)
        return Answer(r.status_code, dict(r.headers), r.get_data())

    def get(self, path: str, token: str | None = None, **kw: Any) -> "Answer":
        return self.request("GET", path, token, **kw)

    def post(self, path: str, token: str | None = None, json: Any = None, **kw: Any) -> "Answer":
        return self.request("POST", path, token, json=json, **kw)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    content: bytes

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.content) if self.content else None

    @property
    def content_type(self) -> str:
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return value.split(";")[0].strip()
        return ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def expect(self, status: int) -> Any:
        assert self.status == status, f"expected {status}, got {self.status}: {self.content[:600]!r}"
        return self.json


class ServerProcess:
    """``cobuild serve`` in its own process on a free loopback port."""

    def __init__(self, home: Path, admin_token: str, database_url: str = "",
                 extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        env = {**os.environ, "COBUILD_HOME": str(home), "COBUILD_BOOTSTRAP_TOKEN": admin_token,
               "PYTHONPATH": str(REPO), **(extra_env or {})}
        env.pop("COBUILD_DATABASE_URL", None)
        if database_url:
            env["COBUILD_DATABASE_URL"] = database_url
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.serve", "--port", "0", *args], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.banner = [self._line(), self._line(), self._line()]
        self.base_url = self.banner[0].split(" on ", 1)[1].split("/api/v1", 1)[0]

    def _line(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"server did not start (exit {self.process.poll()})")
        return line.strip()

    def stop(self) -> str:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        return out


def running_server(home: Path, admin_token: str) -> Iterator[ServerProcess]:
    server = ServerProcess(home, admin_token)
    try:
        yield server
    finally:
        server.stop()


COMMITMENT_STEPS = ("draft", "public", "claimed", "fulfilled")
TASK_STEPS = ("open", "claimed", "planned", "delivered", "confirmed", "rated")


def commitment_at(cast: TokenCast, state: str) -> dict[str, Any]:
    """A G1 commitment to V1 on an in-force pairing, brought to ``state``."""
    e, a = cast.engine, cast.actors
    p = cast.pairing("in_force")
    c = e.make_commitment(a["agency"], p, "giver", "funds", "资助村道硬化 5 万元",
                          date(2025, 12, 31), amount_yuan=Decimal("50000.00")).id
    step = COMMITMENT_STEPS.index(state)
    if step >= 1:
        e.publicise_commitment(a["agency"], c, "村务公开栏", e.today())
    if step >= 2:
        e.claim_fulfilment(a["agency"], c, note="已拨付")
    if step >= 3:
        e.confirm_fulfilment(a["village"], c)
    return {"pairing": str(p), "commitment": str(c)}


def task_at(cast: TokenCast, state: str) -> dict[str, Any]:
    """A V1 need claimed by its partner G1, brought to ``state``."""
    e, a = cast.engine, cast.actors
    p = cast.pairing("in_force")
    t = e.raise_need(a["village"], cast.orgs["V1"], "infrastructure", "修缮村文化礼堂屋顶").id
    step = TASK_STEPS.index(state)
    if step >= 1:
        e.claim_task(a["agency"], t, cast.orgs["G1"])
    if step >= 2:
        e.plan_task(a["agency"], t, date(2025, 6, 30), Decimal("80000.00"))
    if step >= 3:
        e.report_delivery(a["agency"], t, e.clock.now(), Decimal("78000.00"), "屋顶已修缮")
    if step >= 4:
        e.confirm_delivery(a["village"], t)
    if step >= 5:
        e.rate_task(a["village"], t, "satisfied", "群众满意")
    return {"pairing": str(p), "task": str(t)}


def pooled_need(cast: TokenCast) -> dict[str, Any]:
    """A V1 need raised before the claim window and pooled by the workflow today."""
    e, a = cast.engine, cast.actors
    p = cast.pairing("in_force")
    t = e.raise_need(a["village"], cast.orgs["V1"], "education", "留守儿童暑期课堂",
                     occurred_at=e.clock.now() - timedelta(days=40)).id
    e.pool_need(SYSTEM, t)
    return {"pairing": str(p), "task": str(t)}


def followup_at(cast: TokenCast) -> dict[str, Any]:
    """A case the township supervisor opened about the G1–V1 pairing, for V1 to answer."""
    e, a = cast.engine, cast.actors
    p = cast.pairing("in_force")
    case = e.open_followup(a["supervisor"], "pairing", p, cast.orgs["V1"], "村里反映结对活动未落实")
    return {"pairing": str(p), "followup": str(case.id)}


EVALUATION_STAGES = ("open", "computed", "publicised", "objection", "ended")


def evaluation_at(cast: TokenCast, stage: str, settings: Settings) -> dict[str, Any]:
    """The county's 2025 round with the G1–V1 pairing in it, brought to ``stage``."""
    e, a = cast.engine, cast.actors
    p = cast.pairing("in_force")
    round_id = e.open_evaluation(a["admin"], 2025, COUNTY).id
    ids: dict[str, Any] = {"pairing": str(p), "round": str(round_id)}
    step = EVALUATION_STAGES.index(stage)
    if step >= 1:
        scores = {"ideology": 90, "mechanism": 85, "teamwork": 88, "results": 80, "response": 92}
        e.submit_joint_rating(a["agency"], round_id, p, scores)
        e.submit_joint_rating(a["village"], round_id, p, scores)
        e.record_evaluation_satisfaction(a["supervisor"], round_id, p,
                                         {"satisfied": 40, "basically_satisfied": 8})
        e.compute_evaluation(a["evaluator"], round_id, ProjectionScorer(open_runner(e, settings)))
    if step == 4:
        # A publicity period already over: the workflow records its end.
        e.publicise_evaluation(a["admin"], round_id, e.today() - timedelta(days=10), 7)
        state = open_worker_state(settings)
        Worker(e, state).drain()
        state.close()
    elif step >= 2:
        e.publicise_evaluation(a["admin"], round_id)
    if step == 3:
        outcome = e.raise_evaluation_objection(a["village"], round_id, "活动次数统计有误", p)
        ids["objection"] = outcome.details["objection_id"]
    return ids


def build_world(cast: TokenCast, setup: str, settings: Settings | None = None) -> dict[str, Any]:
    """Named starting points for endpoint tests: ``none``, a pairing at some state,
    ``activity``, ``commitment:<state>``, ``task:<state>`` (or ``task:pooled``),
    ``followup`` or ``evaluation:<stage>``."""
    if setup == "none":
        return {}
    kind, _, state = setup.partition(":")
    if kind == "commitment":
        return commitment_at(cast, state)
    if setup == "task:pooled":
        return pooled_need(cast)
    if kind == "task":
        return task_at(cast, state)
    if kind == "followup":
        return followup_at(cast)
    if kind == "evaluation":
        assert settings is not None
        return evaluation_at(cast, state, settings)
    if setup == "activity":
        p = cast.pairing("in_force")
        e = cast.engine
        outcome = e.record_activity(cast.actors["agency"], p, "visit", "走访慰问", e.clock.now())
        return {"pairing": str(p), "activity": outcome.details["activity_id"]}
    return {"pairing": str(cast.pairing(setup))}


class WorldTemplates:
    """Each named world is built once through the engine, then copied per test (a SQLite
    folder copy is much cheaper than replaying the commands)."""

    def __init__(self, root: Path, start: datetime) -> None:
        self.root = root
        self.start = start
        self.built: dict[str, tuple[Path, dict[str, Any]]] = {}

    def _build(self, setup: str) -> tuple[Path, dict[str, Any]]:
        if setup not in self.built:
            home = self.root / setup.replace(":", "-")
            engine = open_engine(Settings(home=home), FakeClock(self.start))
            cast = TokenCast.create(engine)
            facts = {"ids": build_world(cast, setup, Settings(home=home)), "tokens": cast.tokens,
                     "users": {k: str(v) for k, v in cast.users.items()},
                     "orgs": {k: str(v) for k, v in cast.orgs.items()}}
            engine.close()
            self.built[setup] = (home, facts)
        return self.built[setup]

    def open(self, setup: str, home: Path) -> tuple[Engine, Settings, TokenCast, dict[str, Any]]:
        template, facts = self._build(setup)
        shutil.copytree(template, home)
        settings = Settings(home=home)
        engine = open_engine(settings, FakeClock(self.start))
        cast = TokenCast(engine, dict(facts["tokens"]),
                         {k: uuid.UUID(v) for k, v in facts["users"].items()},
                         {k: uuid.UUID(v) for k, v in facts["orgs"].items()})
        cast.actors = {k: engine.authenticate(t) for k, t in cast.tokens.items()}
        return engine, settings, cast, dict(facts["ids"])


def rebind(app: Any, engine: Engine, settings: Settings) -> None:
    """Point an app built once per module at a fresh engine (building an app documents
    every schema, which costs more than a whole test)."""
    from api.http.security import FailedSignIns

    app.extensions["cobuild"] = Root(settings, engine).open_all()
    # Each test's world starts with no wrong tokens counted against the test client.
    app.extensions["cobuild.failed_sign_ins"] = FailedSignIns()
