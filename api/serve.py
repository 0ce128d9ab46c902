"""``cobuild serve``: the API and the embedded workers in one process (the embedded default).

The scheduler and the relay take the same leases as ``cobuild worker`` and ``cobuild relay``:
next to those processes (or another ``serve``) on one store, ``serve`` serves the API and
stands by for the roles held elsewhere, saying so on stderr.

Production runs the API under gunicorn instead (``gunicorn -w 4 'api.wsgi:app'``, see
docs/api.md) with the workers as their own processes.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

import click
from werkzeug.serving import make_server

from api.app import create_app
from api.root import Root
from workflows.store.settings import Settings
from workflows.engine import Engine
from workflows.store.leases import AlreadyRunning, LeadershipLost, Lease, acquire
from workflows.organisations import AlreadyInitialised
from workflows.relay import Relay, RelayPosition, broker_connection
from workflows.scheduler import Worker, open_worker_state

TOKEN_FILE = "admin-token"


def ensure_admin(engine: Engine, settings: Settings) -> str:
    """Where the first admin's token is: created now (on a fresh data folder) or earlier."""
    path = settings.home / TOKEN_FILE
    try:
        token = engine.bootstrap_admin(settings.bootstrap_token)
    except AlreadyInitialised:
        if path.exists():
            return f"in {path}"
        return "printed once by `cobuild init` when this data folder was initialised"
    # Only the owner of the data folder can read it, like the event store beside it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return f"in {path} (new data folder: the first admin was created)"


# The roles `cobuild worker` and `cobuild relay` hold, with the seconds between their rounds.
ROLES = (("scheduler", 1.0), ("relay", 0.5))


def _scheduler(engine: Engine, settings: Settings) -> tuple[Worker, Callable[[], None]]:
    state = open_worker_state(settings)
    return Worker(engine, state), state.close


def _relay(engine: Engine, settings: Settings) -> tuple[Relay, Callable[[], None]]:
    connection = broker_connection(settings)
    position = RelayPosition(settings)

    def close() -> None:
        position.close()
        connection.release()

    return Relay(engine, connection, position), close


Maker = Callable[[Engine, Settings], tuple[Worker | Relay, Callable[[], None]]]
MAKERS: dict[str, Maker] = {"scheduler": _scheduler, "relay": _relay}


def _say(line: str) -> None:
    click.echo(f"cobuild serve: {line}", err=True)


class EmbeddedRole:
    """A single-copy role (the scheduler, the relay) in a daemon thread of this process.

    The thread holds the role's lease while its worker runs, the lease ``cobuild worker`` and
    ``cobuild relay`` hold: next to one of those (or to another ``cobuild serve``) on the same
    store, it stands by and takes over when the role is freed, so ``serve`` is a failover copy
    and never a second scheduler or relay.  If the lease is lost, the worker is stopped at
    once and the thread stands by again.  Each takeover resumes from the saved position.
    """

    def __init__(self, engine: Engine, settings: Settings, role: str, interval: float,
                 say: Callable[[str], None] = _say, poll: float = 1.0, watch_every: float = 2.0) -> None:
        self.engine = engine
        self.settings = settings
        self.role = role
        self.interval = interval
        self.say = say
        self.poll = poll
        self.watch_every = watch_every
        self.worker: Worker | Relay | None = None
        self.lease: Lease | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"cobuild-{role}", daemon=True)

    @property
    def active(self) -> bool:
        return self.worker is not None

    def start(self) -> "EmbeddedRole":
        self.thread.start()
        return self

    def stop(self) -> None:
        # Joined before the engine closes: a worker inside a read must not find the event
        # store's connections gone.
        with self._lock:
            self._stopping.set()
            if self.worker is not None:
                self.worker.stop()
        self.thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            lease = self.lease = self._take()
            if lease is None:
                return
            try:
                self._work(lease)
            finally:
                lease.close()
                self.lease = None

    def _take(self) -> Lease | None:
        try:
            return acquire(self.settings, self.role)
        except AlreadyRunning as held:
            self.say(f"the {self.role} runs elsewhere ({held.holder or 'holder unknown'}); "
                     f"standing by to take over")
        try:
            lease = acquire(self.settings, self.role, wait=True, poll=self.poll, cancel=self._stopping)
        except AlreadyRunning:
            return None  # only when this process stops
        self.say(f"took over the {self.role}")
        return lease

    def _work(self, lease: Lease) -> None:
        worker, close = MAKERS[self.role](self.engine, self.settings)
        with self._lock:
            if self._stopping.is_set():
                close()
                return
            self.worker = worker
        lost: list[LeadershipLost] = []

        def on_lost(error: LeadershipLost) -> None:
            lost.append(error)
            worker.stop()

        lease.watch(on_lost, self.watch_every)
        try:
            worker.run(self.interval)
        finally:
            with self._lock:
                self.worker = None
            close()
        if lost:
            self.say(f"{lost[0]}; stopped the {self.role}, standing by")


def start_embedded_workers(engine: Engine, settings: Settings) -> list[EmbeddedRole]:
    """The scheduler with its policies, and the relay to the broker, as daemon threads, each
    under its lease.

    Each resumes from the position it saved in the data folder, as the separate
    ``cobuild worker`` and ``cobuild relay`` processes of a production install do."""
    return [EmbeddedRole(engine, settings, role, interval).start() for role, interval in ROLES]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free port).")
@click.option("--threads/--no-threads", default=True, help="Serve requests in threads.")
@click.option("--workers/--no-workers", "embedded", default=True,
              help="Run the scheduler, relay and projections in this process (off when they "
                   "run apart).")
def serve(host: str, port: int, threads: bool, embedded: bool) -> None:
    """Serve the HTTP API with the embedded workers (SQLite under COBUILD_HOME)."""
    root = Root.from_env()
    settings, engine = root.settings, root.engine
    where_token = ensure_admin(engine, settings)
    app = create_app(root)
    server = make_server(host, port, app, threaded=threads)
    # Reports catch up before answering anyway; following the log in the background keeps
    # that catch-up small, so a report rarely pays for the writes before it.
    projections = root.projections
    if embedded:
        projections.start(interval=0.2)
    base = f"http://{host}:{server.server_port}"
    click.echo(f"cobuild API listening on {base}/api/v1 (docs {base}/api/docs, "
               f"OpenAPI {base}/api/openapi.json)")
    click.echo(f"data folder {settings.home}; admin token {where_token}")
    click.echo("embedded workers: scheduler, relay and projections" if embedded
               else "no embedded workers")
    sys.stdout.flush()
    # After the banner: a role held elsewhere is reported on stderr below it.
    workers = start_embedded_workers(engine, settings) if embedded else []

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        for running in workers:
            running.stop()
        projections.stop()
        server.server_close()
        root.close()
        click.echo("cobuild API stopped")


if __name__ == "__main__":
    serve(prog_name="cobuild serve")
