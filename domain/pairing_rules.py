"""The follow-up rules R1–R9 (docs/domain.md) as pure functions of a pairing's facts and a date.

Nothing here reads a database or a clock: the projections hand in a :class:`PairingFacts`
built from the facts visible ``as_of`` a business date (and ``known_at`` a recorded time),
and the workflow's policies (``workflows.policies``) hand in facts from the worker's own
index.  Both use these functions and the same :class:`Thresholds`, so a follow-up case opens on
the day the status board shows the hit.  Every result names the rule-set version it used.

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
- R5 slow: a commitment past its due date and not fulfilled (public, overdue, or claimed
  but not yet confirmed) ``more than`` ``slow_overdue_days`` (30): 31 days hits.
- R6 one-way help: in force for a year and nothing initiated by the receiving side in the
  last 365 days (information only).
- R9 delivery unconfirmed: in force, and a delivery neither confirmed nor rejected ``>= 15``
  days after it was delivered.

Only co-signed activities count; contested or unanswered ones never do.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping, NamedTuple

from domain.labels import GRADES
from domain.ruleset import DEFAULT_RULES as PUBLISHED_DEFAULTS

SEVERITIES = ("info", "warning", "red")
RULE_IDS = ("R1", "R2", "R3", "R4", "R5", "R6", "R9")
STATUSES = ("proposed", "active", "paired_but_inactive", "slow", "suspended", "expired",
            "terminated", "declined")


def _month_day(text: str) -> tuple[int, int]:
    month, day = (int(x) for x in text.split("-"))
    return month, day


# Thresholds field -> how it is read from a published rule set (``domain.ruleset.Rules``).  Every
# field is here and nowhere else has a number of its own, so the two cannot drift apart.
PUBLISHED: dict[str, Callable[[Any], Any]] = {
    "stuck_at_signing_days": lambda r: r["r1_stuck_at_signing_days"],
    "stuck_at_signing_red_days": lambda r: r["r1_red_days"],
    "inactive_days": lambda r: r["r2_inactive_days"],
    "inactive_red_days": lambda r: r["r2_red_days"],
    "org_life_warn_from": lambda r: _month_day(r["r3_warn_from"]),
    "practical_warn_from": lambda r: _month_day(r["r4_warn_from"]),
    "slow_overdue_days": lambda r: r["r5_overdue_days"],
    "one_way_days": lambda r: round(r["r6_window_months"] * 365 / 12),
    "unconfirmed_delivery_days": lambda r: r["r9_confirmation_days"],
    "claim_window_days": lambda r: r["claim_window_days"],
    "weak_income_yuan": lambda r: Decimal(r["weak_village_income_yuan"]),
    "publicity_days": lambda r: r["publicity_days"],
    "backfill_days": lambda r: r["backfill_days"],
    "satisfied_points": lambda r: r["satisfaction.satisfied"],
    "basically_satisfied_points": lambda r: r["satisfaction.basically_satisfied"],
    "dissatisfied_points": lambda r: r["satisfaction.dissatisfied"],
    "grade_excellent": lambda r: r["grades.excellent"],
    "grade_good": lambda r: r["grades.good"],
    "grade_fair": lambda r: r["grades.fair"],
    "weight_mechanism": lambda r: r["weights.mechanism"],
    "weight_teamwork": lambda r: r["weights.teamwork"],
    "weight_ideology": lambda r: r["weights.ideology"],
    "weight_results": lambda r: r["weights.development"],
    "weight_response": lambda r: r["weights.public_response"],
    "weight_records": lambda r: r["weights.record_quality"],
    "joint_org_life_target": lambda r: r["targets.joint_org_life"],
    "practical_matter_target": lambda r: r["targets.practical_matter"],
}


@dataclass(frozen=True)
class Thresholds:
    """Thresholds and weights (docs/domain.md, rules R1–R9) in the names the rules use.

    Always built from a published rule set (:meth:`from_published`; ``DEFAULT_RULES`` from
    the built-in defaults), so its numbers are the workflow's numbers."""

    version: str
    stuck_at_signing_days: int
    stuck_at_signing_red_days: int
    inactive_days: int
    inactive_red_days: int
    org_life_warn_from: tuple[int, int]
    practical_warn_from: tuple[int, int]
    slow_overdue_days: int
    one_way_days: int
    unconfirmed_delivery_days: int
    claim_window_days: int
    weak_income_yuan: Decimal
    publicity_days: int
    backfill_days: int
    satisfied_points: int
    basically_satisfied_points: int
    dissatisfied_points: int
    grade_excellent: int
    grade_good: int
    grade_fair: int
    weight_mechanism: int
    weight_teamwork: int
    weight_ideology: int
    weight_results: int
    weight_response: int
    weight_records: int
    joint_org_life_target: int
    practical_matter_target: int

    @classmethod
    def from_published(cls, rules: Any) -> "Thresholds":
        """The rule set the workflow publishes (``domain.ruleset.Rules``: a version number and
        nested values), in the names the rules use."""
        return cls(version=str(rules.version),
                   **{name: read(rules) for name, read in PUBLISHED.items()})

    @classmethod
    def from_values(cls, version: str, values: Mapping[str, Any]) -> "Thresholds":
        """The defaults with the named values replaced (for what-if reports and tests)."""
        known = {f.name for f in fields(cls)} - {"version"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown rule set value(s): {', '.join(unknown)}")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            if name == "weak_income_yuan":
                converted[name] = Decimal(str(value))
            elif name.endswith("_warn_from"):
                converted[name] = tuple(value)
            else:
                converted[name] = int(value)
        return replace(DEFAULT_RULES, version=version, **converted)

    def satisfaction_points(self, level: str) -> int | None:
        return {
            "satisfied": self.satisfied_points,
            "basically_satisfied": self.basically_satisfied_points,
            "dissatisfied": self.dissatisfied_points,
        }.get(level)

    def grade(self, total: float) -> str:
        """The grade's name: scores, snapshots and exports carry it as people read it."""
        if total >= self.grade_excellent:
            return GRADES["excellent"]
        if total >= self.grade_good:
            return GRADES["good"]
        if total >= self.grade_fair:
            return GRADES["fair"]
        return GRADES["poor"]

    def is_weak(self, income: Decimal | None) -> bool:
        return income is not None and income < self.weak_income_yuan

    def warn_date(self, rule: str, year: int) -> date:
        """From when R3 (joint organisational life) or R4 (practical matter) warns in ``year``."""
        month, day = self.org_life_warn_from if rule == "R3" else self.practical_warn_from
        return date(year, month, day)


DEFAULT_RULES = replace(Thresholds.from_published(PUBLISHED_DEFAULTS), version="default")


class Lifecycle(NamedTuple):
    """The pairing's lifecycle transitions visible at the date asked about.

    ``suspended_seq`` / ``resumed_seq`` are log positions, so the later of the two wins.
    A named tuple: a report page makes hundreds, several times faster than frozen
    dataclasses, and as immutable.
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


class PairingFacts(NamedTuple):
    """What the rules need to know about one pairing, as visible at ``as_of`` (a named
    tuple, like ``Lifecycle``)."""

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


def stuck_at_signing(facts: PairingFacts, as_of: date, rules: Thresholds) -> RuleHit | None:
    if facts.state != "in_force" or facts.in_force_on is None:
        return None
    if facts.last_activity_on is not None or facts.first_public_commitment_on is not None:
        return None
    days = _days(as_of, facts.in_force_on)
    if days < rules.stuck_at_signing_days:
        return None
    severity = "red" if days >= rules.stuck_at_signing_red_days else "warning"
    return RuleHit("R1", severity, {
        "in_force_on": facts.in_force_on.isoformat(), "days_since_in_force": days,
        "threshold_days": rules.stuck_at_signing_days,
        "red_days": rules.stuck_at_signing_red_days})


def last_active_on(facts: PairingFacts) -> date | None:
    """What R2 counts from: the latest co-signed activity, confirmed delivery or fulfilment,
    coming into force or resumption."""
    marks = [d for d in (facts.last_activity_on, facts.last_confirmed_outcome_on,
                         facts.in_force_on, facts.resumed_on) if d is not None]
    return max(marks, default=None)


def inactive(facts: PairingFacts, as_of: date, rules: Thresholds) -> RuleHit | None:
    if facts.state != "in_force" or facts.in_force_on is None:
        return None
    since = last_active_on(facts)
    assert since is not None
    days = _days(as_of, since)
    if days < rules.inactive_days:
        return None
    severity = "red" if days >= rules.inactive_red_days else "warning"
    return RuleHit("R2", severity, {
        "last_active_on": since.isoformat(), "days_without_activity": days,
        "threshold_days": rules.inactive_days, "red_days": rules.inactive_red_days,
        "last_activity_on": facts.last_activity_on.isoformat() if facts.last_activity_on else None,
    })


def _annual(rule: str, count: int, facts: PairingFacts, as_of: date,
            rules: Thresholds) -> RuleHit | None:
    if facts.state != "in_force" or facts.in_force_on is None or count > 0:
        return None
    warn_from = rules.warn_date(rule, as_of.year)
    if as_of < warn_from or facts.in_force_on >= warn_from:
        return None
    severity = "red" if (as_of.month, as_of.day) == (12, 31) else "warning"
    return RuleHit(rule, severity, {"year": as_of.year, "count": count})


def no_joint_org_life(facts: PairingFacts, as_of: date, rules: Thresholds) -> RuleHit | None:
    return _annual("R3", facts.joint_org_life_in_year, facts, as_of, rules)


def no_practical_matter(facts: PairingFacts, as_of: date, rules: Thresholds) -> RuleHit | None:
    return _annual("R4", facts.practical_matters_in_year, facts, as_of, rules)


def slow(facts: PairingFacts, as_of: date, rules: Thresholds) -> RuleHit | None:
    if facts.state != "in_force" or not facts.overdue_since:
        return None
    worst = max(_days(as_of, due) for due in facts.overdue_since)
    if worst <= rules.slow_overdue_days:
        return None
    late = sum(1 for due in facts.overdue_since if _days(as_of, due) > rules.slow_overdue_days)
    return RuleHit("R5", "warning", {"max_days_overdue": worst, "commitments_overdue": late,
                                     "threshold_days": rules.slow_overdue_days})


def next_change(facts: PairingFacts, as_of: date, rules: Thresholds,
                among: tuple[str, ...] = ("R1", "R2", "R5")) -> date | None:
    """The first day after ``as_of`` on which a hit of ``among`` can start or turn red
    without a new fact: where the workflow's next inactivity check is due."""
    if facts.state != "in_force" or facts.in_force_on is None:
        return None
    candidates: list[date] = []
    if "R1" in among and facts.last_activity_on is None and facts.first_public_commitment_on is None:
        candidates += [facts.in_force_on + timedelta(days=rules.stuck_at_signing_days),
                       facts.in_force_on + timedelta(days=rules.stuck_at_signing_red_days)]
    if "R2" in among:
        since = last_active_on(facts)
        assert since is not None
        candidates += [since + timedelta(days=rules.inactive_days),
                       since + timedelta(days=rules.inactive_red_days)]
    if "R5" in among:
        candidates += [due + timedelta(days=rules.slow_overdue_days + 1)
                       for due in facts.overdue_since]
    return min((d for d in candidates if d > as_of), default=None)


def one_way(facts: PairingFacts, as_of: date, rules: Thresholds) -> RuleHit | None:
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


def unconfirmed_delivery(facts: PairingFacts, as_of: date, rules: Thresholds) -> RuleHit | None:
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


def rule_hits(facts: PairingFacts, as_of: date, rules: Thresholds = DEFAULT_RULES) -> list[RuleHit]:
    return [hit for rule in RULES if (hit := rule(facts, as_of, rules)) is not None]


def derived_status(state: str, hits: list[RuleHit]) -> str:
    """The status board's one word for a pairing (docs/domain.md, Reports)."""
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
