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
import socket
import subprocess
import sys
import threading
from typing import Any, Callable

import click

from api.app import create_app
from api.cli.common import show_first_admin
from api.idempotency import IdempotencyStore
from api.root import Root
from workflows.store.settings import Settings, owner_only
from workflows.engine import Engine
from workflows.store.leases import AlreadyRunning, LeadershipLost, Lease, acquire
from workflows.store.outages import describe, is_outage
from workflows.organisations import FIRST_ADMIN_LOGIN, AlreadyInitialised
from workflows.relay import Relay, RelayPosition, broker_connection
from workflows.scheduler import Worker, open_worker_state

# Where an older version wrote the first admin's token in clear: said, never written now.
OLD_TOKEN_FILE = "admin-token"


def ensure_admin(engine: Engine, settings: Settings) -> Callable[[str], None] | None:
    """On a data folder nobody initialised, create the first admin as ``cobuild init`` does:
    the answer prints its token and activation code once, below the banner (given the
    server's base URL); nothing of them is kept but hashes.  None when it existed."""
    try:
        token, code = engine.initialise(settings.bootstrap_token)
    except AlreadyInitialised:
        return None
    shown = None if settings.bootstrap_token else token
    return lambda base: show_first_admin(shown, FIRST_ADMIN_LOGIN, code, base)


# The roles `cobuild worker` and `cobuild relay` hold, with the seconds between their rounds.
ROLES = (("scheduler", 1.0), ("relay", 0.5))


def _scheduler(engine: Engine, settings: Settings) -> tuple[Worker, Callable[[], None]]:
    state = open_worker_state(settings)
    answers = IdempotencyStore(settings, engine.clock)

    def close() -> None:
        answers.close()
        state.close()

    return Worker(engine, state, chores=[answers.purge]), close


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
            except Exception as error:
                if not is_outage(error):
                    raise
                # Setting up the worker met an outage (its own outages are ridden out in
                # run()): give the role back and take it again once the store answers.
                self.say(f"{self.role}: unavailable ({describe(error)}); taking the role again")
                self._stopping.wait(self.poll)
            finally:
                lease.close()
                self.lease = None

    def _take(self) -> Lease | None:
        waited: list[str] = []

        def standing_by(holder: str) -> None:
            waited.append(holder)
            self.say(f"the {self.role} runs elsewhere ({holder}); standing by to take over")

        try:
            # Rides out a database that does not answer (saying so once), as the worker does.
            lease = acquire(self.settings, self.role, wait=True, poll=self.poll,
                            cancel=self._stopping, on_standby=standing_by, say=self.say)
        except AlreadyRunning:
            return None  # only when this process stops
        if waited:
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
            # Outages of the store or the broker are ridden out inside run(); the lease is
            # checked before every round as well as by the watch.
            worker.run(self.interval, say=self.say, check=lease.check)
        except LeadershipLost as error:
            on_lost(error)
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


# Requests in flight at once: waitress answers each in a thread of its pool.  The store
# serialises writers anyway; more threads only queue longer behind SQLite's one writer.
DEFAULT_THREADS = 8


def _run_until_stopped(server: object, parent: int | None = None) -> None:
    """waitress's loop, a turn at a time, until SIGTERM/SIGINT (or, in a serving process
    of several, until the process that started it is gone).

    The signal only marks the stop, which the loop sees within a turn
    (``asyncore_loop_timeout``, a second).  An exception raised by the handler used to leave
    waitress's loop, but a signal that lands inside one of waitress's callbacks (answering a
    busy connection) had its exception swallowed there, and the server never stopped."""
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    w: Any = server
    while not stopping.is_set() and (parent is None or os.getppid() == parent):
        # One turn of waitress's own loop (``server.run()`` runs it until the process
        # ends); its sockets are the server's map.
        w.asyncore.loop(timeout=w.adj.asyncore_loop_timeout, map=w._map,
                        use_poll=w.adj.asyncore_use_poll, count=1)


def _start_serving_processes(count: int, listening: socket.socket, threads: int) -> list[subprocess.Popen[bytes]]:
    """``count`` more processes answering on the same listening socket (the kernel hands
    each connection to one of them), without the embedded workers: one process's threads
    share one interpreter lock, so a machine's other cores answer only from processes of
    their own."""
    fd = listening.fileno()
    return [subprocess.Popen([sys.executable, "-m", "api.serve", "--listen-fd", str(fd),
                              "--parent", str(os.getpid()), "--threads", str(threads), "--no-workers"],
                             pass_fds=(fd,))
            for _ in range(count)]


def _serve_on_socket(fd: int, parent: int, threads: int) -> None:
    """A serving process started by ``--processes``: the API on the inherited socket, quietly."""
    from waitress.server import create_server

    root = Root.from_env()
    server = create_server(create_app(root), sockets=[socket.socket(fileno=fd)], threads=threads,
                           ident="", clear_untrusted_proxy_headers=True)
    try:
        _run_until_stopped(server, parent=parent)
    finally:
        server.task_dispatcher.shutdown()
        server.close()
        root.close()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free port).")
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=click.IntRange(1, 64),
              help="Requests served at once (threads of the server).")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 16),
              help="Processes answering requests (one per core to use); the scheduler, relay "
                   "and projections run in the first only.")
@click.option("--workers/--no-workers", "embedded", default=True,
              help="Run the scheduler, relay and projections in this process (off when they "
                   "run apart).")
@click.option("--listen-fd", type=int, default=None, hidden=True)
@click.option("--parent", type=int, default=0, hidden=True)
def serve(host: str, port: int, threads: int, processes: int, embedded: bool,
          listen_fd: int | None, parent: int) -> None:
    """Serve the HTTP API with the embedded workers (SQLite under COBUILD_HOME).

    The server is waitress (a production WSGI server, in this process, with a pool of
    threads); it names no software or version in its answers."""
    from waitress.server import create_server

    owner_only()
    if listen_fd is not None:
        _serve_on_socket(listen_fd, parent, threads)
        return
    root = Root.from_env()
    settings, engine = root.settings, root.engine
    first_admin = ensure_admin(engine, settings)
    app = create_app(root)
    # ident="": no Server header (and no "generated by" line in its own error pages).
    server = create_server(app, host=host, port=port, threads=threads, ident="",
                           clear_untrusted_proxy_headers=True)
    others: list[subprocess.Popen[bytes]] = []
    if processes > 1:
        listening = getattr(server, "socket", None)  # absent when the host has several addresses
        if listening is None:
            server.close()
            root.close()
            raise click.UsageError("--processes needs one address to listen on (give --host an IP address)")
        others = _start_serving_processes(processes - 1, listening, threads)
    # Reports catch up before answering anyway; following the log in the background keeps
    # that catch-up small, so a report rarely pays for the writes before it.
    projections = root.projections
    if embedded:
        projections.start(interval=0.2, say=_say)
    base = f"http://{host}:{server.effective_port}"
    click.echo(f"cobuild API listening on {base}/api/v1 (docs {base}/api/docs, "
               f"OpenAPI {base}/api/openapi.json)")
    click.echo(f"data folder {settings.home}; " + (
        "new: the first admin was created (below)" if first_admin else
        "the first admin's token and activation code were printed once when it was initialised"))
    click.echo(("embedded workers: scheduler, relay and projections" if embedded
                else "no embedded workers")
               + (f"; {processes} processes answer requests" if processes > 1 else ""))
    click.echo(f"people sign in at {base}/login (lost codes and tokens: `cobuild users reset "
               f"--login {FIRST_ADMIN_LOGIN} --reason …`, `cobuild users token`)")
    if first_admin:
        first_admin(base)
    if (settings.home / OLD_TOKEN_FILE).exists():
        _say(f"{settings.home / OLD_TOKEN_FILE} (written by an older version) holds a token in "
             "clear: delete it (`cobuild users token` issues a new one)")
    sys.stdout.flush()
    # After the banner: a role held elsewhere is reported on stderr below it.
    workers = start_embedded_workers(engine, settings) if embedded else []

    try:
        _run_until_stopped(server)
    finally:
        # The request threads first: one finishing pulls the server's trigger, which
        # closing the server first had already closed (a traceback on every busy stop).
        for other in others:
            other.terminate()
        server.task_dispatcher.shutdown()
        server.close()
        for other in others:
            try:
                other.wait(timeout=30)
            except subprocess.TimeoutExpired:
                other.kill()
        for running in workers:
            running.stop()
        projections.stop()
        root.close()
        click.echo("cobuild API stopped")


if __name__ == "__main__":
    serve(prog_name="cobuild serve")
