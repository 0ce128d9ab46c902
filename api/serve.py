"""``cobuild serve``: the API and the embedded workers in one process (the embedded default).

Production runs the API under gunicorn instead (``gunicorn -w 4 'api.wsgi:app'``, see
docs/api.md) with the workers as their own processes.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import click
from werkzeug.serving import make_server

from api.app import create_app
from workflows.config import Settings
from workflows.engine import Engine, open_engine
from workflows.organisations import AlreadyInitialised
from workflows.relay import Relay, RelayPosition, broker_connection
from workflows.scheduler import Worker, open_worker_state

TOKEN_FILE = "admin-token"


def ensure_admin(engine: Engine, home: Path) -> str:
    """Where the first admin's token is: created now (on a fresh data folder) or earlier."""
    path = home / TOKEN_FILE
    try:
        token = engine.bootstrap_admin(os.environ.get("COBUILD_BOOTSTRAP_TOKEN") or None)
    except AlreadyInitialised:
        if path.exists():
            return f"in {path}"
        return "printed once by `cobuild init` when this data folder was initialised"
    # Only the owner of the data folder can read it, like the event store beside it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return f"in {path} (new data folder: the first admin was created)"


@dataclass
class Embedded:
    """A worker (scheduler or relay) running in a daemon thread of this process."""

    worker: Worker | Relay
    thread: threading.Thread

    def stop(self) -> None:
        # Joined before the engine closes: a worker inside a read must not find the
        # event store's connections gone.
        self.worker.stop()
        self.thread.join()


def start_embedded_workers(engine: Engine, settings: Settings) -> list[Embedded]:
    """The scheduler with its policies, and the relay to the broker, as daemon threads.

    Each resumes from the position it saved in the data folder, as the separate
    ``cobuild worker`` and ``cobuild relay`` processes of a production install do."""
    workers: list[Worker | Relay] = [
        Worker(engine, open_worker_state(settings)),
        Relay(engine, broker_connection(settings), RelayPosition(settings)),
    ]
    running = []
    for worker, interval, name in zip(workers, (1.0, 0.5), ("scheduler", "relay")):
        thread = threading.Thread(target=worker.run, args=(interval,), name=f"cobuild-{name}",
                                  daemon=True)
        thread.start()
        running.append(Embedded(worker, thread))
    return running


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
    settings = Settings.from_env()
    engine = open_engine(settings)
    where_token = ensure_admin(engine, settings.home)
    app = create_app(engine, settings)
    server = make_server(host, port, app, threaded=threads)
    workers = start_embedded_workers(engine, settings) if embedded else []
    # Reports catch up before answering anyway; following the log in the background keeps
    # that catch-up small, so a report rarely pays for the writes before it.
    projections = app.extensions["cobuild"].projections
    if embedded:
        projections.start(interval=0.2)
    base = f"http://{host}:{server.server_port}"
    click.echo(f"cobuild API listening on {base}/api/v1 (docs {base}/api/docs, "
               f"OpenAPI {base}/api/openapi.json)")
    click.echo(f"data folder {settings.home}; admin token {where_token}")
    click.echo("embedded workers: scheduler, relay and projections" if workers
               else "no embedded workers")
    sys.stdout.flush()

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
        engine.close()
        click.echo("cobuild API stopped")


if __name__ == "__main__":
    serve(prog_name="cobuild serve")
