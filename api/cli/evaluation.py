"""``cobuild evaluation open|compute|publicise|finalise|show``: the yearly evaluation round
of a region, as the local operator (an admin for the whole country)."""
from __future__ import annotations

import functools
import json
from datetime import date
from typing import Any, Callable

import click

from api.cli.common import OPERATOR, root
from domain.errors import DomainError
from domain.evaluation import EvaluationRound
from domain.labels import DIMENSIONS, EVALUATION_STATES, FIVE_GOOD, rule_set_words
from projections.evaluations import ProjectionScorer


def _refusals(command: Callable[..., None]) -> Callable[..., None]:
    """A refusal is one line and exit code 1; nothing was written."""
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except DomainError as error:
            raise click.ClickException(getattr(error, "message", str(error))) from None
    return run


def _round_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option("--region", required=True, help="Programme region code (e.g. 331123).")(command)
    return click.option("--year", required=True, type=int, help="The year evaluated.")(command)


@click.group()
def evaluation() -> None:
    """Evaluation rounds (年度考核 / 结果联评)."""


@evaluation.command("open")
@_round_options
@click.option("--rules-version", type=int, help="Rule set version (default: the current one).")
@_refusals
def open_round(year: int, region: str, rules_version: int | None) -> None:
    """Open the round of REGION for YEAR."""
    engine = root().engine
    outcome = engine.open_evaluation(OPERATOR, year, region, rules_version)
    round_ = engine.load(EvaluationRound, outcome.id)
    click.echo(f"opened {outcome.id} ({year} {region}, rule set version {round_.rule_set_version})")


@evaluation.command("compute")
@_round_options
@_refusals
def compute(year: int, region: str) -> None:
    """Score the year from the projections and freeze the result into the round."""
    engine = root().engine
    round_ = engine.evaluation_round_of(region, year)
    scorer = ProjectionScorer(root().projections)
    outcome = engine.compute_evaluation(OPERATOR, round_.id, scorer)
    click.echo(f"computed {outcome.details['pairings']} pairings and "
               f"{outcome.details['organisations']} organisations")


@evaluation.command("publicise")
@_round_options
@click.option("--from", "from_on", help="First day of the publicity period (default: today).")
@click.option("--days", type=int, help="Length of the period (default: the rule set's).")
@_refusals
def publicise(year: int, region: str, from_on: str | None, days: int | None) -> None:
    """Start the publicity period (公示)."""
    engine = root().engine
    first = None
    if from_on is not None:
        try:
            first = date.fromisoformat(from_on)
        except ValueError:
            raise click.BadParameter(f"{from_on!r} is not a date like 2026-01-10",
                                     param_hint="--from") from None
    round_ = engine.evaluation_round_of(region, year)
    outcome = engine.publicise_evaluation(OPERATOR, round_.id, first, days)
    click.echo(f"公示 {outcome.details['from_on']} 至 {outcome.details['until']}")


@evaluation.command("finalise")
@_round_options
@_refusals
def finalise(year: int, region: str) -> None:
    """Make the grades final (after the publicity period, with no objection open)."""
    engine = root().engine
    round_ = engine.evaluation_round_of(region, year)
    engine.finalise_evaluation(OPERATOR, round_.id)
    click.echo(f"finalised the {year} round of {region}")


@evaluation.command("show")
@_round_options
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table")
@_refusals
def show(year: int, region: str, fmt: str) -> None:
    """Print the round: its state, and its frozen result if computed."""
    engine = root().engine
    r = engine.evaluation_round_of(region, year)
    if fmt == "json":
        click.echo(json.dumps(_as_dict(r), ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{year} 年度考核 {region}: {EVALUATION_STATES[r.state]} ({rule_set_words(r.rule_set_version)})")
    if r.publicity:
        click.echo(f"公示: {r.publicity['from_on']} 至 {r.publicity['until']}")
    if r.objections:
        still = len(r.open_objections)
        click.echo(f"异议: {len(r.objections)} 件, 未处理 {still} 件")
    if r.snapshot is None:
        return
    dims = list(DIMENSIONS)
    click.echo(f"计分截至 {r.snapshot['as_of']}")
    click.echo("\t".join(["结对", "帮扶方", "受援方", *DIMENSIONS.values(), "总分", "等次"]))
    for p in r.snapshot["pairings"]:
        click.echo("\t".join([p["pairing_id"][:8], p["giver_name"], p["receiver_name"],
                              *(f"{p['points'][d]:.2f}" for d in dims), f"{p['total']:.2f}",
                              p["grade"]]))
    click.echo("\t".join(["组织", *DIMENSIONS.values(), "总分", "等次", "对方联评"]))
    for o in r.snapshot["organisations"]:
        rated = o.get("joint_rating_received")
        joint = " ".join(f"{FIVE_GOOD[d]}{v}" for d, v in rated.items()) if rated else "-"
        click.echo("\t".join([o["name"], *(f"{o['points'][d]:.2f}" for d in dims),
                              f"{o['total']:.2f}", o["grade"], joint]))


def _as_dict(r: EvaluationRound) -> dict[str, Any]:
    return {"id": str(r.id), "year": r.year, "region": r.region, "state": r.state,
            "state_label": EVALUATION_STATES[r.state], "rule_set_version": r.rule_set_version,
            "publicity": r.publicity, "objections": r.objections, "snapshot": r.snapshot,
            "grades": r.grades}
