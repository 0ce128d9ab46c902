"""Commands on evaluation rounds (年度考核 / 结果联评, docs/domain.md, Evaluation rounds).

Who does what (docs/domain.md, Users and roles):
- ``admin`` opens a round for a region within its own, publicises the result and finalises it;
- a party of a pairing (``agency`` / ``village`` for its own organisation, or an admin or
  supervisor entering it on the party's behalf) submits its joint rating of the other side;
- ``supervisor`` or ``admin`` records the satisfaction survey of a pairing in its region;
- ``evaluator`` or ``admin`` computes the scores and rules on objections: scoring is the
  evaluators' work, and it writes only to the round, never to a pairing, commitment or task;
- finalising is the admin's alone, so whoever scored does not also sign the result off;
- a party (or a supervisor on its behalf) objects during the publicity period;
- the workflow records the end of the publicity period when its timer fires.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping, Protocol
from uuid import UUID, uuid4

from domain.base import Actor
from domain.errors import Duplicate, InvalidValue, NotPermitted
from domain.evaluation import EvaluationRound
from domain.pairing import Pairing
from domain.pairing_rules import Thresholds
from domain.scoring import round_snapshot
from workflows.authorisation import in_region, require_acting_for, require_role
from workflows.core import EngineCore, Outcome
from workflows.errors import Forbidden, NotFound


class Scorer(Protocol):
    """Scores a year of a region from the projections: the evaluation report
    (``projections.reports.evaluation_report``) as of ``as_of``."""

    def __call__(self, year: int, region: str, rules: Thresholds, as_of: date) -> Mapping[str, Any]: ...


def require_round_scope(actor: Actor, region: str) -> None:
    """Admins and evaluators act on rounds of their region or below it."""
    if actor.role != "system" and not in_region(actor, region):
        raise Forbidden("region-scope", "the evaluation round is outside your region")


class EvaluationCommands(EngineCore):
    def open_evaluation(self, actor: Actor, year: int, region: str,
                        rule_set_version: int | None = None,
                        occurred_at: datetime | None = None) -> Outcome:
        """Open the round of ``region`` for ``year`` with the current (or a named) rule set."""
        require_role(actor, "admin-opens-evaluations", "admin")
        require_round_scope(actor, region)
        by = self.attribution(actor, occurred_at)
        if isinstance(year, int) and year > self.today().year:
            raise InvalidValue("year", "a round is opened in or after its year")
        if rule_set_version is None:
            rule_set_version = self.current_rules().version
        elif rule_set_version > self.current_rules().version:
            raise InvalidValue("rule_set_version", f"version {rule_set_version} is not published")
        evaluation = EvaluationRound.open(by, year, region, rule_set_version)
        if self.exists(evaluation.id):
            raise Duplicate(f"the {year} round of {region} is already open", round_id=str(evaluation.id))
        return self.commit(evaluation)

    def evaluation_round(self, actor: Actor, round_id: UUID) -> EvaluationRound:
        """Read a round: admins, supervisors and evaluators of its region or above it, and
        any organisation the result is about."""
        evaluation = self.load(EvaluationRound, round_id)
        if actor.role in ("admin", "supervisor", "evaluator"):
            if not (in_region(actor, evaluation.region)
                    or (actor.region_code or "").startswith(evaluation.region)):
                raise Forbidden("region-scope", "the evaluation round is outside your region")
        elif actor.role != "system" and str(actor.organisation_id) not in evaluation.parties():
            raise Forbidden("not-in-scope", "the result is not about your organisation")
        return evaluation

    def _in_round(self, evaluation: EvaluationRound, pairing: Pairing) -> None:
        regions = [self.organisation_facts(o).region_code
                   for o in (pairing.giver_id, pairing.receiver_id)]
        if not any(r.startswith(evaluation.region) for r in regions):
            raise InvalidValue("pairing_id", "is not a pairing of the round's region")
        if pairing.in_force_since is None or pairing.in_force_since.year > evaluation.year:
            raise InvalidValue("pairing_id", f"was not in force in {evaluation.year}")

    def submit_joint_rating(self, actor: Actor, round_id: UUID, pairing_id: UUID,
                            scores: Mapping[str, Any], occurred_at: datetime | None = None,
                            on_behalf_of: UUID | None = None,
                            expected_version: int | None = None) -> Outcome:
        """结果联评: one side of a pairing rates the other on the five 五好 (0–100 each)."""
        evaluation = self.load(EvaluationRound, round_id, expected_version)
        pairing = self.load(Pairing, pairing_id)
        by = self.attribution(actor, occurred_at, on_behalf_of)
        require_acting_for(actor, self.acting_for(by))
        side = pairing.side_of(by.organisation_id)
        if side is None:
            raise NotPermitted("party-only", "only a party to the pairing rates the other side")
        self._in_round(evaluation, pairing)
        evaluation.submit_rating(by, pairing_id, side, scores)
        return self.commit(evaluation)

    def record_evaluation_satisfaction(self, actor: Actor, round_id: UUID, pairing_id: UUID,
                                       counts: Mapping[str, Any],
                                       occurred_at: datetime | None = None,
                                       expected_version: int | None = None) -> Outcome:
        """群众满意度: how many people answered each level, for one pairing's village."""
        require_role(actor, "supervisor-records-satisfaction", "admin", "supervisor")
        evaluation = self.load(EvaluationRound, round_id, expected_version)
        pairing = self.load(Pairing, pairing_id)
        if not in_region(actor, self.organisation_facts(pairing.receiver_id).region_code):
            raise Forbidden("region-scope", "the village is outside your region")
        self._in_round(evaluation, pairing)
        evaluation.record_satisfaction(self.attribution(actor, occurred_at), pairing_id, counts)
        return self.commit(evaluation)

    def compute_evaluation(self, actor: Actor, round_id: UUID, scorer: Scorer,
                           expected_version: int | None = None) -> Outcome:
        """Score the round's year from the projections with the round's rule set, and freeze
        the result into the round."""
        require_role(actor, "evaluator-computes-scores", "admin", "evaluator")
        evaluation = self.load(EvaluationRound, round_id, expected_version)
        require_round_scope(actor, evaluation.region)
        evaluation.require_state("compute scores", "open", "computed")
        by = self.attribution(actor)
        rules = Thresholds.from_published(
            self.rules_version(evaluation.rule_set_version))
        report = scorer(evaluation.year, evaluation.region, rules, self.today())
        snapshot = round_snapshot(report, evaluation.rule_set_version, evaluation.satisfaction,
                                  evaluation.ratings, rules)
        evaluation.record_scores(by, snapshot)
        return self.commit(evaluation, pairings=len(snapshot["pairings"]),
                           organisations=len(snapshot["organisations"]))

    def publicise_evaluation(self, actor: Actor, round_id: UUID, from_on: date | None = None,
                             days: int | None = None,
                             expected_version: int | None = None) -> Outcome:
        """公示: from ``from_on`` (today) for ``days`` (the rule set's publicity period)."""
        require_role(actor, "admin-publicises", "admin")
        evaluation = self.load(EvaluationRound, round_id, expected_version)
        require_round_scope(actor, evaluation.region)
        if days is None:
            rules = self.rules_version(evaluation.rule_set_version)
            days = rules["publicity_days"]
        evaluation.publicise(self.attribution(actor), from_on or self.today(), days)
        publicity = evaluation.publicity or {}  # set by publicise
        return self.commit(evaluation, **{k: v.isoformat() for k, v in publicity.items()})

    def raise_evaluation_objection(self, actor: Actor, round_id: UUID, reason: str,
                                   pairing_id: UUID | None = None,
                                   occurred_at: datetime | None = None,
                                   on_behalf_of: UUID | None = None) -> Outcome:
        """A party objects to the publicised result (a supervisor names the party it speaks for)."""
        require_role(actor, "party-objects", "agency", "village", "supervisor", "admin")
        evaluation = self.load(EvaluationRound, round_id)
        by = self.attribution(actor, occurred_at, on_behalf_of)
        require_acting_for(actor, self.acting_for(by))
        objection_id = str(uuid4())
        evaluation.raise_objection(by, objection_id, reason, pairing_id)
        return self.commit(evaluation, objection_id=objection_id)

    def resolve_evaluation_objection(self, actor: Actor, round_id: UUID, objection_id: str,
                                     resolution: str, reason: str,
                                     occurred_at: datetime | None = None,
                                     expected_version: int | None = None) -> Outcome:
        """``dismissed``: the result stands; ``upheld``: the round reopens for correction."""
        require_role(actor, "evaluator-rules-on-objections", "admin", "evaluator")
        evaluation = self.load(EvaluationRound, round_id, expected_version)
        require_round_scope(actor, evaluation.region)
        evaluation.resolve_objection(self.attribution(actor, occurred_at), objection_id,
                                     resolution, reason)
        return self.commit(evaluation)

    def finalise_evaluation(self, actor: Actor, round_id: UUID,
                            expected_version: int | None = None) -> Outcome:
        """定档: the grades of the publicised snapshot become final."""
        require_role(actor, "admin-finalises", "admin")
        evaluation = self.load(EvaluationRound, round_id, expected_version)
        require_round_scope(actor, evaluation.region)
        evaluation.finalise(self.attribution(actor))
        return self.commit(evaluation)

    def evaluation_round_of(self, region: str, year: int) -> EvaluationRound:
        round_id = EvaluationRound.create_id(region, year)
        if not self.exists(round_id):
            raise NotFound("evaluation round", f"{region}/{year}")
        return self.load(EvaluationRound, round_id)
