"""``cobuild``: one command with subcommands.

The CLI acts as the local operator (``api.cli.common.OPERATOR``).  Every refusal is one line
on stderr and a non-zero exit; nothing is written.
"""
from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from typing import NoReturn
from uuid import UUID

import click

from api.cli.common import OPERATOR, root, show_activation, show_first_admin
from domain.errors import DomainError
from workflows.engine import Engine
from workflows.store.settings import ConfigurationError, owner_only
from workflows.store.schema import migrate
from workflows.organisations import (
    BOOTSTRAP_ADMIN_ID, FIRST_ADMIN_LOGIN, AlreadyInitialised, ImportRejected,
)


def engine() -> Engine:
    return root().engine


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"cobuild: {message}", err=True)
    sys.exit(code)


class CobuildGroup(click.Group):
    """Turns domain refusals and bad settings into one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ImportRejected as error:
            for row in error.errors:
                click.echo(f"line {row.line}: {row.message}", err=True)
            fail(error.message)
        except (DomainError, ConfigurationError) as error:
            fail(getattr(error, "message", str(error)))
        return None


@click.group(cls=CobuildGroup)
def cli() -> None:
    """cobuild: 结对共建 workflow engine."""


@cli.command()
@click.option("--region", default="", help="Region prefix of the first admin (empty: the whole country).")
def init(region: str) -> None:
    """Create the data folder and schema, and print the first admin's token and web
    activation code once (only their hashes are kept)."""
    settings = root().settings
    migrate(settings)
    try:
        token, code = engine().initialise(settings.bootstrap_token, region)
    except AlreadyInitialised:
        click.echo(f"cobuild is already initialised in {settings.home}; nothing was changed.")
        return
    click.echo(f"Initialised cobuild in {settings.home}")
    show_first_admin(None if settings.bootstrap_token else token, FIRST_ADMIN_LOGIN, code)


@cli.group()
def orgs() -> None:
    """Organisations (党组织)."""


@orgs.command("add")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--kind", required=True)
@click.option("--region-code", required=True)
@click.option("--income-year", type=int, help="Year of the collective income (villages).")
@click.option("--income", help="Collective income in yuan (villages).")
def orgs_add(code: str, name: str, kind: str, region_code: str, income_year: int | None,
             income: str | None) -> None:
    """Register one organisation."""
    reported: tuple[int, Decimal] | None = None
    if income is not None:
        try:
            amount = Decimal(income)
        except InvalidOperation:
            fail(f"--income: {income!r} is not an amount in yuan")
        if income_year is None:
            fail("--income needs --income-year")
        reported = (income_year, amount)
    eng = engine()
    outcome = eng.register_organisation(OPERATOR, code, name, kind, region_code)
    if reported is not None:
        eng.report_collective_income(OPERATOR, outcome.id, *reported)
    click.echo(outcome.id)


@orgs.command("import")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--regions", "regions_file", type=click.Path(exists=True, dir_okay=False),
              help="Also name divisions (区划名称) from CSV/XLSX: columns region_code, name "
                   "(or 区划代码, 名称).")
def orgs_import(file: str | None, regions_file: str | None) -> None:
    """Import organisations from CSV (UTF-8) or XLSX: every row or none.

    Columns: code, name, kind, region_code, and optionally income_year, income_yuan; or in
    Chinese 代码, 名称, 类型 (村, 社区, 机关 ...), 行政区划代码, 年份, 集体经济收入.
    With --regions, the division names are checked with the organisations, and nothing is
    written unless both files are good; a name a division already has records nothing."""
    if file is None and regions_file is None:
        fail("name a file of organisations, or --regions with a file of division names")
    eng = engine()
    orgs_data = _read(file) if file else None
    regions_data = _read(regions_file) if regions_file else None
    if regions_data is not None:
        eng.check_region_import(OPERATOR, regions_data)
    if orgs_data is not None:
        eng.check_import(OPERATOR, orgs_data)
    if regions_data is not None:
        changes = eng.import_regions(OPERATOR, regions_data)
        named = sum(1 for c in changes if c.change != "same")
        click.echo(f"named {named} divisions ({len(changes) - named} already so named)")
    if orgs_data is not None:
        outcomes = eng.import_organisations(OPERATOR, orgs_data)
        click.echo(f"imported {len(outcomes)} organisations")


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


@cli.group()
def users() -> None:
    """Users and tokens."""


@users.command("add")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "supervisor", "agency", "village", "evaluator"]))
@click.option("--organisation", "organisation", help="Organisation code (agency, village).")
@click.option("--region-code", help="Region prefix (admin, supervisor, evaluator).")
@click.option("--login", help="Login for the web pages; prints a one-time activation code.")
def users_add(name: str, role: str, organisation: str | None, region_code: str | None,
              login: str | None) -> None:
    """Register a user and print its token once (and, with --login, its activation code)."""
    eng = engine()
    organisation_id: UUID | None = None
    if organisation:
        organisation_id = eng.organisation_by_code(organisation).id
    outcome, token = eng.register_user(OPERATOR, name, role, organisation_id, region_code,
                                       login=login)
    click.echo(f"user {outcome.id}")
    click.echo("token (shown once):")
    click.echo(token)
    if login is not None:
        show_activation(login, outcome.details["activation_code"])


@users.command("give-login")
@click.argument("user_id", type=click.UUID, required=False)
@click.option("--login", required=True, help="Login for the web pages.")
def users_give_login(user_id: UUID | None, login: str) -> None:
    """Give an existing user a login (without USER_ID: the first admin, who was created
    with a token only); prints the activation code once."""
    _, code = engine().give_login(OPERATOR, user_id or BOOTSTRAP_ADMIN_ID, login)
    show_activation(login, code)


@users.command("reset")
@click.option("--login", required=True, help="The login whose password is forgotten.")
@click.option("--reason", required=True, help="Why (kept in the history).")
def users_reset(login: str, reason: str) -> None:
    """Clear a user's password and print a new activation code once; their sessions end."""
    eng = engine()
    _, code = eng.reset_password(OPERATOR, eng.user_by_login(login).id, reason)
    show_activation(login, code)


@users.command("token")
@click.argument("user_id", required=False)
def users_token(user_id: str | None) -> None:
    """Issue a new token for a user whose token was lost or expired, and print it once.

    Without USER_ID: the first admin (the one `cobuild init` created).  Whoever can run
    this has the data folder in hand, so it is how an operator gets an admin back in."""
    uid = BOOTSTRAP_ADMIN_ID
    if user_id is not None:
        try:
            uid = UUID(user_id)
        except ValueError:
            fail(f"{user_id!r} is not a user id")
    token = engine().issue_token(OPERATOR, uid)
    click.echo("token (shown once):")
    click.echo(token)


@cli.command()
def demo() -> None:
    """Play a realistic year of pairings through the engine."""
    from workflows.demo import DemoAlreadyLoaded, play_demo_year

    try:
        summary = play_demo_year(root().settings)
    except DemoAlreadyLoaded as error:
        click.echo(str(error))
        return
    for line in summary:
        click.echo(line)


def _register_subcommands() -> None:
    from api.cli.audit import audit
    from api.cli.evaluation import evaluation
    from api.cli.generate import generate
    from api.cli.reports import projections, report
    from api.cli.workflows import COMMANDS as WORKFLOW_COMMANDS
    from api.cli.ops import migrate as migrate_command
    from api.serve import serve

    for command in (audit, evaluation, generate, report, projections, serve, migrate_command):
        cli.add_command(command)
    for command in WORKFLOW_COMMANDS:
        cli.add_command(command)


_register_subcommands()


def main() -> None:
    owner_only()
    cli(prog_name="cobuild")


if __name__ == "__main__":
    main()
