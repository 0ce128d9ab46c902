"""The follow-up rules of DESIGN §3.7 as pure functions of a pairing's facts and a date.

Nothing here reads a database or a clock: the projections hand in a :class:`PairingFacts`
built from the facts visible ``as_of`` a business date (and ``known_at`` a recorded time),
and the workflow policies may hand in facts they built themselves.  Every result names the
:class:`RuleSet` version it used.

Boundaries, stated once so reports and policies agree (``days`` counts calendar days
between two local dates, ``(as_of - earlier).days``):

- R1 stuck at signing: in force, no co-signed activity and no publicised commitment, and
  ``days since in force >= stuck_at_signing_days`` (60; red from 120).
- R2 paired but inactive: in force, and ``days since the latest of (co-signed activity,
  confirmed delivery, confirmed fulfilment, coming into force, resumption) >= inactive_days``
  (90; red from 180).  89 days is quiet, 90 is a hit.
- R3 / R4: in force since before the warning date (1 Oct) of ``as_of``'s year and no
  co-signed joint organisational life / no confirmed practical matter in that year; a
  warning from 1 Oct, red on 31 Dec.
- R5 slow: a commitment overdue ``more than`` ``slow_overdue_days`` (30): 31 days hits.
- R6 one-way help: in force for a year and nothing initiated by the receiving side in the
  last 365 days (information only).
- R9 delivery unconfirmed: in force, and a delivery neither confirmed nor rejected ``>= 15``
  days after it was delivered.

Only co-signed activities count; contested or unanswered ones never do.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

SEVERITIES = ("info", "warning", "red")

STATUS_LABELS = {
    "proposed": "待生效", "active": "正常", "paired_but_inactive": "联而不动",
    "slow": "联而慢动", "suspended": "暂停", "expired": "到期", "terminated": "终止",
    "declined": "已拒绝",
}
RULE_LABELS = {
    "R1": "止于签约", "R2": "联而不动", "R3": "全年无联合组织生活", "R4": "全年无民生实事",
    "R5": "联而慢动", "R6": "单向帮扶", "R9": "交付久未确认",
}
SEVERITY_LABELS = {"info": "提示", "warning": "预警", "red": "严重"}
DIMENSION_LABELS = {
    "mechanism": "工作机制好", "teamwork": "团结协作好", "ideology": "思想作风好",
    "results": "发展业绩好", "response": "群众反映好", "records": "台账质量",
}


@dataclass(frozen=True)
class RuleSet:
    """Thresholds and weights (DESIGN §3.7); published rule sets override the defaults."""

    version: str = "default"
    stuck_at_signing_days: int = 60
    stuck_at_signing_red_days: int = 120
    inactive_days: int = 90
    inactive_red_days: int = 180
    annual_warn_month: int = 10
    annual_warn_day: int = 1
    slow_overdue_days: int = 30
    one_way_days: int = 365
    unconfirmed_delivery_days: int = 15
    claim_window_days: int = 30
    weak_income_yuan: Decimal = Decimal("30000")
    publicity_days: int = 7
    backfill_days: int = 30
    satisfied_points: int = 100
    basically_satisfied_points: int = 75
    dissatisfied_points: int = 55
    grade_excellent: int = 90
    grade_good: int = 80
    grade_fair: int = 60
    weight_mechanism: int = 10
    weight_teamwork: int = 15
    weight_ideology: int = 10
    weight_results: int = 35
    weight_response: int = 20
    weight_records: int = 10
    joint_org_life_target: int = 2
    practical_matter_target: int = 1

    @classmethod
    def from_values(cls, version: str, values: Mapping[str, Any]) -> "RuleSet":
        """A published rule set: the defaults with the named values replaced."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown rule set value(s): {', '.join(unknown)}")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            converted[name] = Decimal(str(value)) if name == "weak_income_yuan" else int(value)
        return replace(cls(), version=version, **converted)

    @classmethod
    def from_published(cls, rules: Any) -> "RuleSet":
        """The rule set the workflow publishes (``domain.ruleset.Rules``: a version number and
        nested values), in the names the reports use."""
        warn_month, warn_day = (int(x) for x in rules["r3_warn_from"].split("-"))
        return replace(
            cls(), version=str(rules.version),
            stuck_at_signing_days=rules["r1_stuck_at_signing_days"],
            inactive_days=rules["r2_inactive_days"], inactive_red_days=rules["r2_red_days"],
            annual_warn_month=warn_month, annual_warn_day=warn_day,
            slow_overdue_days=rules["r5_overdue_days"],
            one_way_days=round(rules["r6_window_months"] * 365 / 12),
            unconfirmed_delivery_days=rules["r9_confirmation_days"],
            claim_window_days=rules["claim_window_days"],
            weak_income_yuan=Decimal(rules["weak_village_income_yuan"]),
            publicity_days=rules["publicity_days"],
            satisfied_points=rules["satisfaction.satisfied"],
            basically_satisfied_points=rules["satisfaction.basically_satisfied"],
            dissatisfied_points=rules["satisfaction.dissatisfied"],
            grade_excellent=rules["grades.excellent"], grade_good=rules["grades.good"],
            grade_fair=rules["grades.fair"],
            weight_mechanism=rules["weights.mechanism"], weight_teamwork=rules["weights.teamwork"],
            weight_ideology=rules["weights.ideology"],
            weight_results=rules["weights.development"],
            weight_response=rules["weights.public_response"],
            weight_records=rules["weights.record_quality"])

    def satisfaction_points(self, level: str) -> int | None:
        return {
            "satisfied": self.satisfied_points,
            "basically_satisfied": self.basically_satisfied_points,
            "dissatisfied": self.dissatisfied_points,
        }.get(level)

    def grade(self, total: float) -> str:
        if total >= self.grade_excellent:
            return "优秀"
        if total >= self.grade_good:
            return "良好"
        if total >= self.grade_fair:
            return "一般"
        return "较差"

    def is_weak(self, income: Decimal | None) -> bool:
        return income is not None and income < self.weak_income_yuan

    def warn_date(self, year: int) -> date:
        return date(year, self.annual_warn_month, self.annual_warn_day)


DEFAULT_RULES = RuleSet()


@dataclass(frozen=True)
class Lifecycle:
    """The pairing's lifecycle transitions visible at the date asked about.

    ``suspended_seq`` / ``resumed_seq`` are log positions, so the later of the two wins.
    """

    term_end: date
    accepted: bool = False
    signatures: int = 0
    in_force_on: date | None = None
    declined: bool = False
    terminated: bool = False
    term_ended: bool = False
    suspended_seq: int | None = None
    resumed_seq: int | None = None
    resumed_on: date | None = None


def lifecycle_state(life: Lifecycle, as_of: date) -> str:
    """proposed, accepted, in_force, suspended, declined, terminated or expired."""
    if life.declined:
        return "declined"
    if life.terminated:
        return "terminated"
    if life.term_ended:
        return "expired"
    if not life.accepted:
        state = "proposed"
    elif life.signatures < 2:
        state = "accepted"
    elif life.suspended_seq is not None and (life.resumed_seq or 0) < life.suspended_seq:
        state = "suspended"
    else:
        state = "in_force"
    if as_of > life.term_end:
        return "expired"
    return state


@dataclass(frozen=True)
class PairingFacts:
    """What the rules need to know about one pairing, as visible at ``as_of``."""

    state: str
    in_force_on: date | None = None
    resumed_on: date | None = None
    last_activity_on: date | None = None
    last_confirmed_outcome_on: date | None = None
    first_public_commitment_on: date | None = None
    last_receiver_initiative_on: date | None = None
    joint_org_life_in_year: int = 0
    practical_matters_in_year: int = 0
    overdue_since: tuple[date, ...] = ()
    unconfirmed_deliveries: tuple[date, ...] = ()


@dataclass(frozen=True)
class RuleHit:
    rule: str
    severity: str
    measured: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "measured": dict(self.measured)}


def _days(as_of: date, earlier: date) -> int:
    return (as_of - earlier).days


def stuck_at_signing(facts: PairingFacts, as_of: date, rules: RuleSet) -> RuleHit | None:
    if facts.state != "in_force" or facts.in_force_on is None:
        return None
    if facts.last_activity_on is not None or facts.first_public_commitment_on is not None:
        return None
    days = _days(as_of, facts.in_force_on)
    if days < rules.stuck_at_signing_days:
        return None
    severity = "red" if days >= rules.stuck_at_signing_red_days else "warning"
    return RuleHit("R1", severity, {"days_since_in_force": days,
                                    "threshold_days": rules.stuck_at_signing_days})


def inactive(facts: PairingFacts, as_of: date, rules: RuleSet) -> RuleHit | None:
    if facts.state != "in_force" or facts.in_force_on is None:
        return None
    marks = [d for d in (facts.last_activity_on, facts.last_confirmed_outcome_on,
                         facts.in_force_on, facts.resumed_on) if d is not None]
    since = max(marks)
    days = _days(as_of, since)
    if days < rules.inactive_days:
        return None
    severity = "red" if days >= rules.inactive_red_days else "warning"
    return RuleHit("R2", severity, {
        "days_without_activity": days, "threshold_days": rules.inactive_days,
        "last_activity_on": facts.last_activity_on.isoformat() if facts.last_activity_on else None,
    })


def _annual(rule: str, count: int, facts: PairingFacts, as_of: date,
            rules: RuleSet) -> RuleHit | None:
    if facts.state != "in_force" or facts.in_force_on is None or count > 0:
        return None
    warn_from = rules.warn_date(as_of.year)
    if as_of < warn_from or facts.in_force_on >= warn_from:
        return None
    severity = "red" if (as_of.month, as_of.day) == (12, 31) else "warning"
    return RuleHit(rule, severity, {"year": as_of.year, "count": count})


def no_joint_org_life(facts: PairingFacts, as_of: date, rules: RuleSet) -> RuleHit | None:
    return _annual("R3", facts.joint_org_life_in_year, facts, as_of, rules)


def no_practical_matter(facts: PairingFacts, as_of: date, rules: RuleSet) -> RuleHit | None:
    return _annual("R4", facts.practical_matters_in_year, facts, as_of, rules)


def slow(facts: PairingFacts, as_of: date, rules: RuleSet) -> RuleHit | None:
    if facts.state != "in_force" or not facts.overdue_since:
        return None
    worst = max(_days(as_of, due) for due in facts.overdue_since)
    if worst <= rules.slow_overdue_days:
        return None
    late = sum(1 for due in facts.overdue_since if _days(as_of, due) > rules.slow_overdue_days)
    return RuleHit("R5", "warning", {"max_days_overdue": worst, "commitments_overdue": late,
                                     "threshold_days": rules.slow_overdue_days})


def one_way(facts: PairingFacts, as_of: date, rules: RuleSet) -> RuleHit | None:
    if facts.state != "in_force" or facts.in_force_on is None:
        return None
    if _days(as_of, facts.in_force_on) < rules.one_way_days:
        return None
    last = facts.last_receiver_initiative_on
    if last is not None and _days(as_of, last) < rules.one_way_days:
        return None
    return RuleHit("R6", "info", {
        "last_receiver_initiative_on": last.isoformat() if last else None,
        "window_days": rules.one_way_days,
    })


def unconfirmed_delivery(facts: PairingFacts, as_of: date, rules: RuleSet) -> RuleHit | None:
    if facts.state != "in_force":
        return None
    waiting = [d for d in facts.unconfirmed_deliveries
               if _days(as_of, d) >= rules.unconfirmed_delivery_days]
    if not waiting:
        return None
    return RuleHit("R9", "warning", {
        "deliveries_waiting": len(waiting), "max_days_waiting": max(_days(as_of, d) for d in waiting),
        "threshold_days": rules.unconfirmed_delivery_days,
    })


RULES = (stuck_at_signing, inactive, no_joint_org_life, no_practical_matter, slow, one_way,
         unconfirmed_delivery)


def rule_hits(facts: PairingFacts, as_of: date, rules: RuleSet = DEFAULT_RULES) -> list[RuleHit]:
    return [hit for rule in RULES if (hit := rule(facts, as_of, rules)) is not None]


def derived_status(state: str, hits: list[RuleHit]) -> str:
    """The status board's one word for a pairing (DESIGN §5)."""
    if state in ("proposed", "accepted"):
        return "proposed"
    if state != "in_force":
        return state
    rules_hit = {h.rule for h in hits}
    if rules_hit & {"R1", "R2"}:
        return "paired_but_inactive"
    if "R5" in rules_hit:
        return "slow"
    return "active"
