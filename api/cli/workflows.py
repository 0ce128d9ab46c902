"""``cobuild rules``, ``cobuild worker``, ``cobuild relay`` and ``cobuild consume``.

The worker and the relay are long-running and safe to kill at any moment (SIGTERM or
SIGKILL): each resumes from the position it saved in the data folder.
"""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import click

from api.cli.common import OPERATOR, root
from api.cli.ops import SingleCopy
from domain.errors import DomainError
from workflows.store.settings import Settings
from workflows.relay import (
    DEFAULT_CONSUMER, Consumer, Inbox, Relay, RelayPosition, RelayStats, broker_connection,
    queues,
)
from workflows.scheduler import DrainReport, Worker, open_worker_state


def _on_signals(stop: Callable[[], None]) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop())


@click.group()
def rules() -> None:
    """Rule sets: thresholds and weights (versioned)."""


@rules.command("show")
@click.option("--version", "version", type=int, help="A published version (default: the current one).")
def rules_show(version: int | None) -> None:
    """Print a rule set as TOML-like lines, with its version."""
    engine = root().engine
    current = engine.current_rules() if version is None else engine.rules_version(version)
    label = "内置默认值" if current.version == 0 else f"version {current.version}"
    click.echo(f"# 规则集 rule set {label}")
    tables = {}
    for key, value in current.values.items():
        if isinstance(value, dict):
            tables[key] = value
        else:
            click.echo(f"{key} = {json.dumps(value)}")
    for name, table in tables.items():
        click.echo(f"\n[{name}]")
        for key, value in table.items():
            click.echo(f"{key} = {json.dumps(value)}")


@rules.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", help="Why the rules change.")
def rules_publish(file: Path, note: str | None) -> None:
    """Publish FILE.toml as the next version (keys not in the file keep their values).

    A bad file changes nothing and names the wrong key."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text") from None
    try:
        outcome = root().engine.publish_rules_toml(OPERATOR, text, note)
    except DomainError as error:
        raise click.ClickException(f"{file}: {error.message}; nothing was published") from None
    click.echo(f"published rule set version {outcome.details['version']}")


@click.command()
@click.option("--interval", default=1.0, show_default=True, help="Seconds between rounds.")
@click.option("--once", is_flag=True, help="Drain what is due now and exit.")
@click.option("--standby", is_flag=True, help="If a worker already runs, wait and take over when it stops.")
def worker(interval: float, once: bool, standby: bool) -> None:
    """Run the scheduler, the policies and the projections until stopped."""
    settings = root().settings
    with SingleCopy(settings, "scheduler", standby) as copy:
        _work(settings, interval, once, copy)


def _work(settings: Settings, interval: float, once: bool, copy: SingleCopy) -> None:
    engine = root().engine
    state = open_worker_state(settings)
    projections = root().projections

    def report(r: DrainReport) -> None:
        effects = ", ".join(f"{k} ×{v}" for k, v in (r.effects or {}).items())
        click.echo(f"followed {r.events} events, fired {r.fired} timers"
                   f"{': ' + effects if effects else ''}; projected {r.projected} events")

    answers = root().idempotency  # the API's kept answers expire with the receipts

    def make() -> Worker:
        return Worker(engine, state, followers=[projections], chores=[answers.purge])

    if once:
        report(make().drain())
        return
    _on_signals(copy.stop)
    copy.keep(make, interval, report)


@click.command()
@click.option("--interval", default=0.5, show_default=True, help="Seconds between polls.")
@click.option("--once", is_flag=True, help="Publish what is in the log now and exit.")
@click.option("--standby", is_flag=True, help="If a relay already runs, wait and take over when it stops.")
def relay(interval: float, once: bool, standby: bool) -> None:
    """Publish the event log to cobuild.events and notices to cobuild.notifications."""
    settings = root().settings
    with SingleCopy(settings, "relay", standby) as copy:
        _relay(settings, interval, once, copy)


def _relay(settings: Settings, interval: float, once: bool, copy: SingleCopy) -> None:
    engine = root().engine
    connection = broker_connection(settings)
    position = RelayPosition(settings)

    def report(stats: RelayStats) -> None:
        click.echo(f"published {stats.published} events and {stats.notices} notices "
                   f"up to position {stats.position}")

    def make() -> Relay:
        return Relay(engine, connection, position)

    if once:
        report(make().run_until_idle())
        return
    _on_signals(copy.stop)
    copy.keep(make, interval, report)


@click.command()
@click.option("--queue", "name", default=DEFAULT_CONSUMER, show_default=True,
              help="Queue name prefix (<name>.events, <name>.notifications).")
@click.option("--events", "pattern", default="#", show_default=True,
              help="Routing pattern on cobuild.events ('' for none), e.g. 'pairing.*'.")
@click.option("--once", is_flag=True, help="Consume what is queued and exit.")
def consume(name: str, pattern: str, once: bool) -> None:
    """Consume messages once each (de-duplicated by message id) and print them."""
    settings = root().settings
    inbox = Inbox(settings, name)

    def show(message_id: str, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("kind")
        click.echo(f"{message_id}\t{kind}\t{body.get('text') or body.get('aggregate_id', '')}")

    def say(line: str) -> None:
        click.echo(f"cobuild consume: {line}", err=True)

    consumer = Consumer(broker_connection(settings), inbox, queues(name, pattern or None),
                        on_applied=show, say=say)
    if once:
        consumer.drain()
    else:
        _on_signals(lambda: setattr(consumer, "should_stop", True))
        consumer.run()
    click.echo(f"applied {consumer.applied}, skipped {consumer.duplicates} duplicates", err=True)
    sys.stdout.flush()


COMMANDS = (rules, worker, relay, consume)
