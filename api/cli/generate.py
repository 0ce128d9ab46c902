"""``cobuild generate``: a synthetic county or province year written through the engine.

Every refusal, bad option included, is one line on stderr and a non-zero exit; nothing is
written then.
"""
from __future__ import annotations

import sys
from typing import Any

import click

from api.cli.common import root
from domain.errors import DomainError
from workflows.store.settings import ConfigurationError
from workflows.generate import MAX_FACTOR, SCALES, Generation, Scale


class OneLineErrors(click.Command):
    """Usage errors as one line (``cobuild generate: ...``, exit 2), not click's usage block."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as error:
            message = " ".join(error.format_message().split())
            click.echo(f"cobuild generate: {message}", err=True)
            sys.exit(2)


@click.command("generate", cls=OneLineErrors)
@click.option("--scale", "scale_name", required=True, type=click.Choice(sorted(SCALES)),
              help="county: about 460 organisations and 330 pairings; province: about "
                   "41,500 organisations, 30,000 pairings and 3 million events.")
@click.option("--factor", type=click.FloatRange(0, MAX_FACTOR, min_open=True), default=1.0,
              show_default=True, help="Multiplies organisations and pairings (e.g. 0.25, 1, 2, 4).")
@click.option("--seed", type=int, default=1, show_default=True,
              help="The same seed gives the same organisations, pairings and dates.")
@click.option("--jobs", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Processes playing the year (2 on two cores); 1 keeps the log's order too.")
@click.option("--force", is_flag=True, help="Add to a store that already holds other data.")
def generate(scale_name: str, factor: float, seed: int, jobs: int, force: bool) -> None:
    """Generate a deterministic synthetic year of pairings through the engine."""
    try:
        scale = Scale.named(scale_name, factor)
        with Generation(root().settings, scale, seed, force) as run:
            with click.progressbar(length=run.commands, label="生成中", file=sys.stderr,
                                   show_pos=True, show_eta=True) as bar:
                report = run.play(bar.update, jobs)
    except (DomainError, ConfigurationError) as error:
        click.echo(f"cobuild: {getattr(error, 'message', str(error))}", err=True)
        sys.exit(1)
    for line in report.lines():
        click.echo(line)
