"""Annual 五好 points for a pairing, from confirmed facts only (docs/domain.md, rules R1–R9).

Pure functions of a pairing's confirmed facts in one year.  Points reward outcomes the
other side confirmed (co-signed activities, confirmed deliveries and fulfilments, rated
satisfaction), never the number of uploads; a year with no facts of a kind scores zero on
that indicator, and the indicator says why.  Per-organisation results are listed by
region and code, never ranked.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from domain.pairing_rules import Thresholds

# The dimensions of a score, in the order its points are listed.
DIMENSIONS = ("mechanism", "teamwork", "ideology", "results", "response", "records")


@dataclass(frozen=True)
class Activity:
    kind: str
    recorded_by: str
    day: date
    lag_days: int


@dataclass(frozen=True)
class YearFacts:
    in_force_on: date
    until: date
    activities: list[Activity] = field(default_factory=list)
    commitments_due: int = 0
    commitments_kept_on_time: int = 0
    practical_commitments_confirmed: int = 0
    tasks_claimed: int = 0
    tasks_confirmed: int = 0
    satisfaction: tuple[str, ...] = ()


def quarters_due(in_force_on: date, until: date, year: int) -> list[int]:
    """Quarters of ``year`` that ended by ``until`` while the pairing was in force."""
    ends = [date(year, 3, 31), date(year, 6, 30), date(year, 9, 30), date(year, 12, 31)]
    return [q + 1 for q, end in enumerate(ends) if in_force_on <= end <= until]


def _share(part: int, whole: int) -> float:
    return min(part / whole, 1.0) if whole else 0.0


def score(facts: YearFacts, year: int, rules: Thresholds) -> dict[str, Any]:
    acts = facts.activities
    kinds = [a.kind for a in acts]
    due = quarters_due(facts.in_force_on, facts.until, year)
    active_quarters = {(a.day.month - 1) // 3 + 1 for a in acts}
    cadence = _share(len(active_quarters & set(due)), len(due))
    receiver_hosted = sum(1 for a in acts if a.recorded_by == "receiver")
    org_life = kinds.count("joint_org_life")
    practical = kinds.count("practical_matter") + facts.practical_commitments_confirmed
    levels = [rules.satisfaction_points(level) for level in facts.satisfaction]
    rated = [p for p in levels if p is not None]
    timely = sum(1 for a in acts if a.lag_days <= rules.backfill_days)

    points = {
        "mechanism": rules.weight_mechanism * (0.5 + 0.5 * _share(kinds.count("meeting"), 1)),
        "teamwork": rules.weight_teamwork * (2 / 3 * cadence + 1 / 3 * (receiver_hosted > 0)),
        "ideology": rules.weight_ideology * _share(org_life, rules.joint_org_life_target),
        "results": rules.weight_results * (
            3 / 7 * _share(facts.commitments_kept_on_time, facts.commitments_due)
            + 2 / 7 * _share(practical, rules.practical_matter_target)
            + 2 / 7 * _share(facts.tasks_confirmed, facts.tasks_claimed)),
        "response": rules.weight_response * (sum(rated) / len(rated) / 100 if rated else 0.0),
        "records": rules.weight_records * _share(timely, len(acts)),
    }
    points = {k: round(v, 2) for k, v in points.items()}
    total = round(sum(points.values()), 2)
    indicators = {
        "quarters_due": len(due), "quarters_with_activity": len(active_quarters & set(due)),
        "cosigned_activities": len(acts), "receiver_hosted": receiver_hosted,
        "joint_org_life": org_life, "meetings": kinds.count("meeting"),
        "practical_matters": practical, "commitments_due": facts.commitments_due,
        "commitments_kept_on_time": facts.commitments_kept_on_time,
        "tasks_claimed": facts.tasks_claimed, "tasks_confirmed": facts.tasks_confirmed,
        "satisfaction_ratings": len(rated), "timely_records": timely,
    }
    return {"points": points, "total": total, "grade": rules.grade(total),
            "indicators": indicators}


def per_organisation(per_pairing: list[dict[str, Any]], names: dict[str, str],
                     rules: Thresholds) -> list[dict[str, Any]]:
    """Each organisation's mean over its pairings, listed by organisation, not by score."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in per_pairing:
        groups[item["giver_id"]].append(item)
        groups[item["receiver_id"]].append(item)
    out = []
    for org_id in sorted(groups, key=lambda o: (names.get(o, ""), o)):
        items = groups[org_id]
        points = {d: round(sum(i["points"][d] for i in items) / len(items), 2)
                  for d in DIMENSIONS}
        total = round(sum(i["total"] for i in items) / len(items), 2)
        out.append({"organisation_id": org_id, "name": names.get(org_id, ""),
                    "pairings": len(items), "points": points, "total": total,
                    "grade": rules.grade(total)})
    return out


# -- an evaluation round's snapshot ----------------------------------------------------------------

SURVEY_LEVELS = ("satisfied", "basically_satisfied", "dissatisfied")


def survey_points(counts: Mapping[str, int], rules: Thresholds) -> float | None:
    """Mean conversion of a satisfaction survey (不了解 not counted), or None if nobody
    answered a counted level."""
    answered = sum(counts.get(level, 0) for level in SURVEY_LEVELS)
    if not answered:
        return None
    total = sum(counts.get(level, 0) * (rules.satisfaction_points(level) or 0)
                for level in SURVEY_LEVELS)
    return total / answered


def round_snapshot(report: Mapping[str, Any], rule_set_version: int,
                   satisfaction: Mapping[str, Mapping[str, int]],
                   ratings: Mapping[str, Mapping[str, Mapping[str, int]]],
                   rules: Thresholds) -> dict[str, Any]:
    """What an evaluation round freezes: the evaluation report's per-pairing results with the
    round's own inputs folded in, and each organisation's mean.

    - 群众反映好 (``response``) comes from the round's satisfaction survey of the pairing
      when one was recorded (``satisfaction`` conversion, 不了解 not counted); without a
      survey it keeps the satisfaction ratings of the pairing's confirmed tasks.
    - Joint ratings (结果联评) are recorded beside the points, as what each side said about
      the other, and never move points or grades: the rule set weighs confirmed outcomes.
    """
    pairings = []
    names: dict[str, str] = {}
    for item in report["items"]:
        pairing_id = item["pairing_id"]
        points, indicators = dict(item["points"]), dict(item["indicators"])
        survey = satisfaction.get(pairing_id)
        if survey is not None:
            mean = survey_points(survey, rules)
            points["response"] = (round(rules.weight_response * mean / 100, 2)
                                  if mean is not None else 0.0)
            indicators["survey"] = dict(survey)
        indicators["joint_ratings"] = {side: dict(s) for side, s in ratings.get(pairing_id, {}).items()}
        total = round(sum(points.values()), 2)
        names[item["giver_id"]] = item.get("giver_name", "")
        names[item["receiver_id"]] = item.get("receiver_name", "")
        pairings.append({
            "pairing_id": pairing_id, "giver_id": item["giver_id"],
            "giver_name": item.get("giver_name", ""), "receiver_id": item["receiver_id"],
            "receiver_name": item.get("receiver_name", ""), "region_code": item["region_code"],
            "indicators": indicators, "points": points, "total": total,
            "grade": rules.grade(total)})
    organisations = per_organisation(pairings, names, rules)
    received = _received(pairings)
    for org in organisations:
        org["joint_rating_received"] = received.get(org["organisation_id"])
    return {"year": report["year"], "as_of": report["as_of"], "known_at": report["known_at"],
            "rule_set_version": rule_set_version, "pairings": pairings,
            "organisations": organisations}


def _received(pairings: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per organisation, the mean of what the other sides of its pairings rated it."""
    given: dict[str, list[Mapping[str, int]]] = defaultdict(list)
    for p in pairings:
        ratings = p["indicators"]["joint_ratings"]
        if "receiver" in ratings:
            given[p["giver_id"]].append(ratings["receiver"])
        if "giver" in ratings:
            given[p["receiver_id"]].append(ratings["giver"])
    return {org: {d: round(sum(r[d] for r in rs) / len(rs), 2) for d in rs[0]}
            for org, rs in given.items()}
