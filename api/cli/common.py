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


def show_activation(login: str, code: str, base: str = "") -> None:
    """A login's one-time activation code, printed once (the store keeps its hash only)."""
    click.echo(f"login {login.strip().lower()}; activation code (shown once, valid 14 days):")
    click.echo(code)
    click.echo(f"The person opens {base}/activate, types the login and this code, and sets a "
               f"password, then signs in at {base}/login.")


def show_first_admin(token: str | None, login: str, code: str, base: str = "") -> None:
    """The first admin's secrets, printed once and kept nowhere in clear (DESIGN §13): its
    API token (None when ``COBUILD_BOOTSTRAP_TOKEN`` set it: the operator holds it already,
    and a log of this output must not) and its login for the web pages with a one-time
    activation code."""
    if token is not None:
        click.echo("First admin token (shown once, keep it safe):")
        click.echo(token)
    click.echo("First admin on the web pages:")
    show_activation(login, code, base)
