"""The production shape under load: separate processes on PostgreSQL and RabbitMQ.

gunicorn serves the API with several worker processes, ``cobuild worker`` and ``cobuild
relay`` run as processes of their own, and many clients act at once, racing each other on
purpose and retrying with idempotency keys.  At the end:

- every command the API acknowledged is in the event store, and nothing else a client did
  is (no event lost, none written twice);
- every event was published to RabbitMQ, once after de-duplication by message id, with the
  body of the event at that position;
- the projections the processes followed equal a rebuild from zero;
- the verifiable log verifies: every event has its leaf, and an operator's ``cobuild audit
  checkpoint`` then ``cobuild audit verify`` succeed, the checkpoint covering every event;
- every process is still running and stops cleanly.

Runs only when both COBUILD_TEST_DATABASE_URL and COBUILD_TEST_BROKER_URL are set
(``eval "$(.ci/services.sh)"``).  Like the database, the broker is fresh: a RabbitMQ virtual
host of its own, made through the management API (COBUILD_TEST_BROKER_ADMIN_URL, by default
the broker's host on port 15672 with its credentials), so nothing another run publishes on
the shared ``cobuild.events`` exchange can reach this one.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from tests.support import fresh_settings
from workflows.store.leases import holder

DATABASE_URL = os.environ.get("COBUILD_TEST_DATABASE_URL", "")
BROKER_URL = os.environ.get("COBUILD_TEST_BROKER_URL", "")
BROKER_ADMIN_URL = os.environ.get("COBUILD_TEST_BROKER_ADMIN_URL", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATABASE_URL and BROKER_URL),
                       reason="needs COBUILD_TEST_DATABASE_URL and COBUILD_TEST_BROKER_URL"),
]

ROOT = Path(__file__).resolve().parent.parent
PAIRS = 40
CLIENTS = 32
GUNICORN_WORKERS = 3
ADMIN_TOKEN = "e2e-admin-" + "0123456789abcdef" * 2

# `cobuild` with every subcommand this test drives, whether or not api/cli/main.py registers it yet.
COBUILD = ("from api.cli.main import cli; from api.cli.ops import migrate; "
           "from api.cli.workflows import worker, relay; "
           "from api.cli.reports import report, projections; "
           "[cli.add_command(c) for c in (migrate, worker, relay, report, projections)]; "
           "cli(prog_name='cobuild')")


# -- processes -------------------------------------------------------------------------------

def cobuild(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", COBUILD, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"cobuild {' '.join(args)}: {done.stderr}"
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Processes:
    env: dict[str, str]
    logs: Path
    running: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *argv: str) -> None:
        log = open(self.logs / f"{name}.log", "w")
        self.running[name] = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log,
                                              stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def assert_alive(self) -> None:
        for name, proc in self.running.items():
            assert proc.poll() is None, f"{name} died: {self.log(name)}"

    def stop(self, name: str) -> int:
        proc = self.running.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{name} did not stop on SIGTERM: {self.log(name)}") from None

    def kill_all(self) -> None:
        for proc in self.running.values():
            proc.kill()
            proc.wait()
        self.running.clear()


# -- HTTP ------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    body: dict


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, token: str, body: dict, key: str | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        request = urllib.request.Request(f"{self.base}/api/v1{path}", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return Answer(error.code, json.loads(error.read() or b"{}"))

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/api/openapi.json", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


@dataclass
class Ledger:
    """What the API acknowledged: aggregate id -> versions, and the positions it reported."""

    versions: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    positions: dict[int, tuple[str, int]] = field(default_factory=dict)
    refused: list[int] = field(default_factory=list)
    commands: int = 0

    def note(self, answer: Answer) -> Answer:
        self.commands += 1
        if answer.status in (200, 201):
            b = answer.body
            self.versions[b["id"]].add(b["version"])
            self.positions[b["position"]] = (b["id"], b["version"])
        else:
            self.refused.append(answer.status)
        return answer


def life_of_a_pairing(http: Http, ledger: Ledger, giver: dict, village: dict, today: str) -> None:
    """One pairing, with the races and retries real clients produce."""
    proposed = ledger.note(http.post("/pairings", giver["token"], {
        "giver_id": giver["id"], "receiver_id": village["id"],
        "term_start": "2025-01-01", "term_end": "2027-12-31"}))
    assert proposed.status == 201, proposed.body
    pairing = proposed.body["id"]

    # The village taps "accept" twice (two keys: two requests) while a retry of the first
    # arrives with the same key: one acceptance, one refusal, and the retry gets the first answer.
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(3) as pool:
        first, second, retry = pool.map(lambda k: ledger.note(http.post(
            f"/pairings/{pairing}/accept", village["token"], {}, key=k)), (key, uuid.uuid4().hex, key))
    answers = (first, second, retry)
    accepted = [a for a in answers if a.status == 200]
    assert accepted and all(a.status in (200, 409, 412) for a in answers), answers
    # Two 200s can only be the key and its retry, answered alike.
    assert all(a.body == accepted[0].body for a in accepted), answers

    for who in (giver, village):
        signed = ledger.note(http.post(f"/pairings/{pairing}/sign-agreement", who["token"],
                                       {"signed_on": today}, key=uuid.uuid4().hex))
        assert signed.status == 200, signed.body
    for host, guest in ((giver, village), (village, giver)):
        recorded = ledger.note(http.post(f"/pairings/{pairing}/activities", host["token"], {
            "kind": "joint_org_life", "title": "联合主题党日",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3600))}))
        assert recorded.status == 201, recorded.body
        cosigned = ledger.note(http.post(
            f"/pairings/{pairing}/activities/{recorded.body['activity_id']}/cosign", guest["token"], {}))
        assert cosigned.status == 200, cosigned.body


# -- broker ----------------------------------------------------------------------------------

@contextlib.contextmanager
def fresh_vhost(broker_url: str, admin_url: str = ""):
    """A RabbitMQ virtual host nobody else uses, deleted afterwards; yields its AMQP URL."""
    amqp = urlparse(broker_url)
    admin = urlparse(admin_url or f"http://{amqp.username}:{amqp.password}@{amqp.hostname}:15672")
    auth = base64.b64encode(f"{admin.username}:{admin.password}".encode()).decode()
    base = f"{admin.scheme}://{admin.hostname}:{admin.port}/api"
    name = f"cobuild_test_{uuid.uuid4().hex[:12]}"

    def call(method: str, path: str, body: dict | None = None) -> None:
        request = urllib.request.Request(
            f"{base}{path}", method=method, data=json.dumps(body or {}).encode(),
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).close()

    call("PUT", f"/vhosts/{name}")
    try:
        call("PUT", f"/permissions/{name}/{quote(amqp.username or 'guest')}",
             {"configure": ".*", "write": ".*", "read": ".*"})
        yield amqp._replace(path=f"/{name}").geturl()
    finally:
        call("DELETE", f"/vhosts/{name}")


def bind_test_queue(broker_url: str):
    from kombu import Connection, Queue

    from workflows.relay import EVENTS

    queue = Queue("cobuild.e2e", EVENTS, routing_key="#", durable=True)
    with Connection(broker_url) as conn:
        queue.bind(conn.default_channel).declare()
    return queue


def drain(broker_url: str, queue, quiet_seconds: float = 2.0) -> list[tuple[str, dict]]:
    from kombu import Connection

    got: list[tuple[str, dict]] = []
    with Connection(broker_url) as conn:
        bound = queue.bind(conn.default_channel)
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < quiet_seconds:
            message = bound.get(no_ack=False, accept=["json"])
            if message is None:
                time.sleep(0.1)
                continue
            got.append((message.properties["message_id"], message.payload))
            message.ack()
            idle_since = time.monotonic()
    return got


# -- the test ----------------------------------------------------------------------------------

def test_processes_under_concurrent_load_lose_nothing_and_publish_everything_once(tmp_path):
    from workflows.store.settings import Settings
    from workflows.engine import Engine
    from workflows.store.schema import ensure_schema

    with fresh_settings(tmp_path, DATABASE_URL) as settings, \
            fresh_vhost(BROKER_URL, BROKER_ADMIN_URL) as broker_url:
        settings = replace(settings, broker_url=broker_url)
        env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT),
               "COBUILD_BOOTSTRAP_TOKEN": ADMIN_TOKEN}
        settings.ensure_home()
        processes = Processes(env, tmp_path)
        queue = bind_test_queue(broker_url)
        try:
            run(settings, env, processes, queue, Settings, Engine, ensure_schema)
        finally:
            processes.kill_all()


def run(settings, env, processes, queue, Settings, Engine, ensure_schema) -> None:
    # Schema and first admin: both safe to run twice.
    assert "applied events v1" in cobuild(env, "migrate")
    assert "nothing was changed" in cobuild(env, "migrate")
    first = cobuild(env, "init")  # the token set by the environment is never printed
    assert "Initialised cobuild" in first and ADMIN_TOKEN not in first
    assert "already initialised" in cobuild(env, "init")

    port = free_port()
    processes.start("gunicorn", sys.executable, "-m", "gunicorn", "-w", str(GUNICORN_WORKERS),
                    "--threads", "4", "-b", f"127.0.0.1:{port}", "--timeout", "120", "api.wsgi:app")
    processes.start("worker", sys.executable, "-c", COBUILD, "worker", "--interval", "0.2")
    processes.start("relay", sys.executable, "-c", COBUILD, "relay", "--interval", "0.2")
    for _ in range(300):
        if holder(settings, "relay"):
            break
        processes.assert_alive()
        time.sleep(0.1)
    assert f"pid {processes.running['relay'].pid}" in holder(settings, "relay")
    processes.start("standby-relay", sys.executable, "-c", COBUILD, "relay", "--interval", "0.2",
                    "--standby")
    http = Http(f"http://127.0.0.1:{port}")
    for _ in range(300):
        if http.ready():
            break
        processes.assert_alive()
        time.sleep(0.1)
    assert http.ready(), processes.log("gunicorn")

    # Organisations and their users, registered through the API by the admin.
    ledger = Ledger()
    run_id = uuid.uuid4().hex[:6]

    def party(i: int, kind: str) -> dict:
        code = f"{kind[0].upper()}{run_id}{i}"
        region = "331123000000" if kind == "agency" else f"331123101{i % 900 + 100:03d}"
        org = ledger.note(http.post("/organisations", ADMIN_TOKEN, {
            "code": code, "name": f"{code}党组织", "kind": kind, "region_code": region}))
        assert org.status == 201, org.body
        user = ledger.note(http.post("/users", ADMIN_TOKEN, {
            "name": f"{code}书记", "role": kind, "organisation_id": org.body["id"]}))
        assert user.status == 201, user.body
        return {"id": org.body["id"], "token": user.body["token"]}

    with ThreadPoolExecutor(CLIENTS) as pool:
        givers = list(pool.map(lambda i: party(i, "agency"), range(PAIRS)))
        villages = list(pool.map(lambda i: party(i, "village"), range(PAIRS)))

    # The relay runs once per database: a second copy is refused, a standby waits.
    second = subprocess.run([sys.executable, "-c", COBUILD, "relay", "--once"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "already running" in second.stderr, second.stderr

    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))  # Asia/Shanghai
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        lives = [pool.submit(life_of_a_pairing, http, ledger, g, v, today) for g, v in zip(givers, villages)]
        # Mid-load, the active relay stops; the standby takes over from the saved position.
        time.sleep(1.0)
        assert processes.stop("relay") == 0, processes.log("relay")
        for life in lives:
            life.result()
    elapsed = time.monotonic() - started
    processes.assert_alive()

    # Stop the worker first (it writes events too), then let the relay reach the head.
    assert processes.stop("worker") == 0, processes.log("worker")
    engine = Engine(env=ensure_schema(Settings.from_env(env)).eventsourcing_env())
    try:
        head = engine.recorder.max_notification_id()
        stored = engine.recorder.select_notifications(start=1, limit=head + 1)
        by_system = {n.id for n in stored
                     if (getattr(engine.mapper.to_domain_event(n), "actor", None) or {}).get("role") == "system"}
    finally:
        engine.close()
    published = drain(settings.broker_url, queue, quiet_seconds=3.0)
    deadline = time.monotonic() + 60
    expected_positions = {n.id for n in stored if not n.topic.startswith("domain.user:AccessToken")}
    while {int(m) for m, _ in published} < expected_positions and time.monotonic() < deadline:
        published += drain(settings.broker_url, queue, quiet_seconds=1.0)
    assert processes.stop("standby-relay") == 0, processes.log("standby-relay")
    assert processes.stop("gunicorn") == 0, processes.log("gunicorn")

    by_position = {n.id: n for n in stored}
    where = {(str(n.originator_id), n.originator_version): n.id for n in stored}
    # Nothing lost: every acknowledged command's event is stored, at or before the position
    # the API reported (the position of the last event of that command's transaction).
    for position, (aggregate_id, version) in ledger.positions.items():
        assert position in by_position
        assert where[(aggregate_id, version)] <= position
    # Nothing doubled: the events of what clients commanded are exactly the acknowledged ones
    # (a retry that executed twice, or a lost race that wrote anyway, would add a version).
    commanded = defaultdict(set)
    for n in stored:
        if str(n.originator_id) in ledger.versions and n.id not in by_system:
            commanded[str(n.originator_id)].add(n.originator_version)
    assert commanded == ledger.versions
    assert 409 in ledger.refused or 412 in ledger.refused  # the races did happen

    # Published once after de-duplication, each message the event at its position.
    unique = {}
    for message_id, body in published:
        unique.setdefault(int(message_id), body)
    assert set(unique) == expected_positions
    for position, body in unique.items():
        n = by_position[position]
        assert (body["aggregate_id"], body["aggregate_version"]) == (str(n.originator_id), n.originator_version)

    # The projections the processes kept equal a rebuild from zero.
    as_of = today
    cobuild(env, "projections", "catch-up")
    followed = {name: cobuild(env, "report", name, "--as-of", as_of, "--format", "json", "--limit", "100000")
                for name in ("pairings", "coverage")}
    cobuild(env, "projections", "rebuild")
    rebuilt = {name: cobuild(env, "report", name, "--as-of", as_of, "--format", "json", "--limit", "100000")
               for name in ("pairings", "coverage")}
    assert followed == rebuilt
    assert len(json.loads(followed["pairings"])["items"]) == PAIRS

    # The Merkle log kept up with every writer: one leaf per event, and the store verifies.
    assert_log_verifies(settings, env)

    print(f"\n{ledger.commands} HTTP commands in {elapsed:.1f}s from {CLIENTS} clients through "
          f"{GUNICORN_WORKERS} gunicorn workers: {ledger.commands / elapsed:.0f} commands/s; "
          f"{len(stored)} events, {len(published)} messages ({len(unique)} unique)")


def assert_log_verifies(settings, env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(settings.database_url) as conn:
        events, leaves, without_leaf = conn.execute(
            "SELECT (SELECT count(*) FROM engine_events), (SELECT count(*) FROM audit_leaf), "
            "(SELECT count(*) FROM engine_events e WHERE NOT EXISTS "
            " (SELECT 1 FROM audit_leaf l WHERE l.notification_id = e.notification_id))").fetchone()
    assert without_leaf == 0 and leaves == events > 0, (events, leaves, without_leaf)
    note = Path(env["COBUILD_HOME"]) / "e2e-checkpoint.note"
    signed = cobuild(env, "audit", "checkpoint", "--out", str(note))
    assert int(signed.splitlines()[1]) == events
    verified = cobuild(env, "audit", "verify", "--checkpoint", str(note))
    assert verified.startswith(f"OK: {events} leaves re-derived from {events} stored events"), verified
