"""What every ``cobuild`` command shares: the composition root of the run, and who acts.

The CLI acts as the local operator: whoever can run it has the data folder in hand, so it
records its acts as the ``operator`` admin for the whole country.
"""
from __future__ import annotations

import click

from api.root import Root
from domain.base import Actor

OPERATOR = Actor(user_id="operator", role="admin", region_code="")


def root() -> Root:
    """The composition root of this command line: built from the environment on first use,
    closed when the command ends."""
    ctx = click.get_current_context().find_root()
    if not isinstance(ctx.obj, Root):
        ctx.obj = Root.from_env()
        ctx.call_on_close(ctx.obj.close)
    return ctx.obj
