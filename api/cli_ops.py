"""Operations commands: ``cobuild migrate``.

``cobuild migrate`` is what an upgrade runs before the new processes start; two at once are
serialised by the ``migrate`` lease, and a second run finds nothing to do.
"""
from __future__ import annotations

import sys

import click

from workflows.config import Settings
from workflows.schema import migrate as apply_pending
from workflows.schema import status


@click.command()
@click.option("--check", is_flag=True,
              help="Change nothing; exit with status 1 if the schema needs upgrading.")
def migrate(check: bool) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    settings = Settings.from_env()
    if check:
        behind = False
        for component, known, applied in status(settings):
            mark = "ok" if applied >= known else "needs upgrading"
            behind = behind or applied < known
            click.echo(f"{component}: database v{applied}, code v{known} ({mark})")
        sys.exit(1 if behind else 0)
    done = apply_pending(settings)
    for s in done:
        click.echo(f"applied {s.component} v{s.version}: {s.description}")
    if not done:
        click.echo("the schema is up to date; nothing was changed.")
