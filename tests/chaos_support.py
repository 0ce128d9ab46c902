"""The harness of the chaos tests (tests/test_chaos.py): real processes, real faults.

- :class:`Proxy`: a TCP proxy this test controls between the processes and a shared server
  (PostgreSQL, RabbitMQ).  ``cut()`` drops every connection through it and refuses new
  ones, as a stopped or restarting server does; ``restore()`` listens again on the same
  port.  The shared servers themselves are never touched.
- :class:`Writer`: steady keyed writes (``POST /tasks`` with an ``Idempotency-Key``, the key
  also the task's title), each retried with the same key until answered, noting every
  answer a client saw.
- :class:`Processes`: the deployment's processes, each with its log.
- :func:`check_store`: what must hold afterwards, read from the event store itself.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COBUILD = ("from api.cli.main import main; import sys; sys.argv[0] = 'cobuild'; main()")
ADMIN_TOKEN = "chaos-admin-" + "0123456789abcdef" * 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cobuild(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", COBUILD, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert not check or done.returncode == 0, f"cobuild {' '.join(args)}: {done.stderr}"
    return done


# -- faults --------------------------------------------------------------------------------

class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` is the outage."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for s in doomed:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    continue
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def proxied(url: str, proxy: Proxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    auth = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=f"{auth}@127.0.0.1:{proxy.port}" if auth
                          else f"127.0.0.1:{proxy.port}").geturl()


# -- processes -----------------------------------------------------------------------------

@dataclass
class Processes:
    env: dict[str, str]
    logs: Path
    running: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")
        self.running[name] = subprocess.Popen(argv, env=env or self.env, cwd=ROOT, stdout=log,
                                              stderr=subprocess.STDOUT)
        return self.running[name]

    def cobuild(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return self.start(name, sys.executable, "-c", COBUILD, *args, env=env)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def assert_alive(self) -> None:
        for name, proc in self.running.items():
            assert proc.poll() is None, f"{name} died (exit {proc.returncode}):\n{self.log(name)[-3000:]}"

    def kill9(self, name: str) -> None:
        proc = self.running.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self, name: str) -> int:
        proc = self.running.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{name} did not stop on SIGTERM:\n{self.log(name)[-3000:]}") from None

    def kill_all(self) -> None:
        for proc in self.running.values():
            proc.kill()
            proc.wait()
        self.running.clear()


def until(condition, timeout: float, what: str, processes: Processes | None = None) -> float:
    """Wait for ``condition``; returns the seconds it took (a measurement, never asserted
    except against the stated bound ``timeout``)."""
    started = time.monotonic()
    while not condition():
        if processes is not None:
            processes.assert_alive()
        assert time.monotonic() - started < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.1)
    return time.monotonic() - started


# -- HTTP ----------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    body: dict
    headers: dict[str, str]
    at: float


def post(base: str, path: str, token: str, body: dict, key: str | None = None,
         timeout: float = 30) -> Answer:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(f"{base}/api/v1{path}", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, json.loads(response.read()), dict(response.headers),
                          time.monotonic())
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"raw": raw[:200].decode(errors="replace")}
        return Answer(error.code, body, dict(error.headers), time.monotonic())


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/openapi.json", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Writer:
    """Steady keyed writes from ``threads`` clients: each key retried until answered."""

    base: str
    token: str
    receiver_id: str
    threads: int = 2
    key_deadline: float = 150.0
    seen: list[Answer] = field(default_factory=list)
    unreachable: int = 0  # attempts the server did not answer at all (connection refused)
    done: dict[str, dict] = field(default_factory=dict)  # key -> the 201 body
    given_up: list[str] = field(default_factory=list)
    refused: dict[str, Answer] = field(default_factory=dict)  # key -> its final refusal
    history: dict[str, list[str]] = field(default_factory=dict)  # key -> what each try got
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "Writer":
        for i in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"writer-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join()

    def count(self) -> int:
        return len(self.done)

    def probe(self, timeout: float) -> float:
        """Seconds until a write with a fresh key is answered 201 (the API is back for new
        commands; keys caught in the outage may still wait for their claim to expire)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            key = f"probe-{uuid.uuid4().hex}"
            before = len(self.done)
            self.write(key)
            if key in self.done:
                return time.monotonic() - started
            assert len(self.done) >= before
        raise AssertionError(f"no fresh write answered within {timeout} s")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.write(f"chaos-{uuid.uuid4().hex}")

    def write(self, key: str) -> None:
        body = {"receiver_id": self.receiver_id, "category": "other", "title": key}
        deadline = time.monotonic() + self.key_deadline
        while time.monotonic() < deadline:
            try:
                answer = post(self.base, "/tasks", self.token, body, key=key)
            except OSError:
                with self._lock:
                    self.unreachable += 1
                time.sleep(0.2)
                continue
            with self._lock:
                self.seen.append(answer)
                self.history.setdefault(key, []).append(
                    f"{answer.status} {answer.body.get('code', '')}".strip())
            if answer.status == 201:
                with self._lock:
                    self.done[key] = answer.body
                return
            if answer.status == 503 or answer.body.get("code") == "idempotency-key-in-use":
                time.sleep(0.2)
                continue
            # Any other answer is final for this key (a client does not retry a refusal);
            # check_store still counts what the key wrote.
            with self._lock:
                self.refused[key] = answer
            return
        with self._lock:
            self.given_up.append(key)

    def statuses(self, since: float = 0.0, until_: float = float("inf")) -> Counter:
        with self._lock:
            return Counter(a.status for a in self.seen if since <= a.at <= until_)

    def codes(self) -> Counter:
        with self._lock:
            return Counter(f"{a.status} {a.body.get('code', '')}" for a in self.seen)

    def assert_outage_answers(self) -> None:
        """503 with Retry-After and one code for an outage; never another 5xx."""
        with self._lock:
            answers = list(self.seen)
        for a in answers:
            assert a.status < 500 or a.status == 503, (a.status, a.body)
            if a.status == 503:
                assert a.body.get("code") == "store-unavailable", a.body
                assert int(a.headers.get("Retry-After", "0")) > 0, a.headers


# -- the store afterwards ------------------------------------------------------------------

@dataclass
class StoreFacts:
    head: int
    positions: set[int]  # every position a consumer must see (all but access tokens)
    tasks_by_title: dict[str, list[str]]
    timers: Counter  # (subject_id, purpose) -> timers
    cases: Counter  # case id -> FollowUpOpened events
    fired: int


def read_store(settings) -> StoreFacts:
    from workflows.engine import Engine
    from workflows.store.schema import ensure_schema

    engine = Engine(env=ensure_schema(settings).eventsourcing_env())
    try:
        head = engine.recorder.max_notification_id() or 0
        stored = []
        start = 1
        while start <= head:
            batch = engine.recorder.select_notifications(start=start, limit=1000)
            if not batch:
                break
            stored += batch
            start = batch[-1].id + 1
        tasks: dict[str, list[str]] = defaultdict(list)
        timers: Counter = Counter()
        cases: Counter = Counter()
        fired = 0
        positions = set()
        for n in stored:
            if not n.topic.startswith("domain.user:AccessToken"):
                positions.add(n.id)
            event = engine.mapper.to_domain_event(n)
            name = type(event).__name__
            if name == "NeedRaised":
                tasks[event.title].append(str(event.originator_id))
            elif name == "TimerScheduled":
                timers[(str(event.subject_id), event.purpose)] += 1
            elif name == "TimerFired":
                fired += 1
            elif name == "FollowUpOpened":
                cases[str(event.originator_id)] += 1
        return StoreFacts(head, positions, dict(tasks), timers, cases, fired)
    finally:
        engine.close()


def check_store(settings, writer: Writer, inbox_ids: set[int]) -> StoreFacts:
    """No answered write lost, no key written twice, every position consumed, no timer or
    case doubled."""
    facts = read_store(settings)
    for key, body in writer.done.items():
        assert body["id"] in facts.tasks_by_title.get(key, []), (key, facts.tasks_by_title.get(key))
    doubled = {t: (ids, writer.history.get(t)) for t, ids in facts.tasks_by_title.items()
               if len(ids) > 1}
    assert not doubled, f"keys written twice (tasks, answers): {doubled}"
    assert facts.positions <= inbox_ids, f"not consumed: {sorted(facts.positions - inbox_ids)[:20]}"
    assert all(n == 1 for n in facts.timers.values()), \
        [k for k, n in facts.timers.items() if n > 1][:10]
    assert all(n == 1 for n in facts.cases.values()), facts.cases
    return facts


def consumed_ids(settings, queue: str) -> set[int]:
    from workflows.relay import EVENTS, Inbox

    inbox = Inbox(settings, queue)
    try:
        return {int(message_id) for message_id, _ in inbox.applied(EVENTS.name)}
    finally:
        inbox.close()
