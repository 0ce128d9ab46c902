"""Rule sets: thresholds and weights as versioned data (docs/domain.md, rules R1–R9).

Each published version is its own aggregate whose only event is ``RuleSetPublished(version,
values)``, with an id derived from the version number, so two publishers racing for the
same version collide and one is refused.  ``values`` is always the complete set (a file
that names a few keys is merged over the version before), so every version reads alone.
Version 0 is the built-in defaults and is never recorded.  A key added to the defaults
after a version was published reads, in that version, as its default.

These names are the only place the thresholds are named: the rules themselves
(``domain.pairing_rules``) and the workflow's policies read them through
``domain.pairing_rules.Thresholds.from_published``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.errors import InvalidValue

DEFAULTS: dict[str, Any] = {
    "r1_stuck_at_signing_days": 60,
    "r1_red_days": 120,
    "r2_inactive_days": 90,
    "r2_red_days": 180,
    "r3_warn_from": "10-01",
    "r4_warn_from": "10-01",
    "r5_overdue_days": 30,
    "r6_window_months": 12,
    "r9_confirmation_days": 15,
    "claim_window_days": 30,
    "reminder_days_before": 7,
    "weak_village_income_yuan": 30000,
    "publicity_days": 7,
    "backfill_days": 30,
    "targets": {"joint_org_life": 2, "practical_matter": 1},
    "satisfaction": {"satisfied": 100, "basically_satisfied": 75, "dissatisfied": 55},
    "grades": {"excellent": 90, "good": 80, "fair": 60},
    "weights": {"mechanism": 10, "teamwork": 15, "ideology": 10, "development": 35,
                "public_response": 20, "record_quality": 10},
}

_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


def _whole(low: int, high: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidValue(key, f"must be a whole number, not {value!r}")
        if not low <= value <= high:
            raise InvalidValue(key, f"must be between {low} and {high}, not {value}")
        return value
    return check


def _month_day(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _MONTH_DAY.match(value):
        raise InvalidValue(key, f"must be a month and day like \"10-01\", not {value!r}")
    return value


_DAYS = _whole(1, 3660)
_POINTS = _whole(0, 100)
CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "r1_stuck_at_signing_days": _DAYS,
    "r1_red_days": _DAYS,
    "r2_inactive_days": _DAYS,
    "r2_red_days": _DAYS,
    "r3_warn_from": _month_day,
    "r4_warn_from": _month_day,
    "r5_overdue_days": _DAYS,
    "r6_window_months": _whole(1, 120),
    "r9_confirmation_days": _DAYS,
    "claim_window_days": _DAYS,
    "reminder_days_before": _whole(0, 365),
    "weak_village_income_yuan": _whole(0, 1_000_000_000),
    "publicity_days": _whole(1, 90),
    "backfill_days": _whole(0, 3660),
    **{f"targets.{k}": _whole(1, 100) for k in DEFAULTS["targets"]},
    **{f"satisfaction.{k}": _POINTS for k in DEFAULTS["satisfaction"]},
    **{f"grades.{k}": _POINTS for k in DEFAULTS["grades"]},
    **{f"weights.{k}": _POINTS for k in DEFAULTS["weights"]},
}


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not any(name.startswith(f"{path}.") for name in CHECKS):
                raise InvalidValue(path, "is not a known rule table")
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        head, _, tail = path.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[head] = value
    return nested


def merged_values(changes: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``changes`` merged over ``base`` (the defaults when omitted), validated key by key.

    Raises :class:`InvalidValue` naming the first wrong key; nothing is merged then.
    """
    flat = _flatten(DEFAULTS)
    if base is not None:
        flat.update(_flatten(base))
    for key, value in _flatten(changes).items():
        check = CHECKS.get(key)
        if check is None:
            raise InvalidValue(key, f"is not a rule setting (known: {', '.join(sorted(CHECKS))})")
        flat[key] = check(key, value)
    if flat["r1_red_days"] <= flat["r1_stuck_at_signing_days"]:
        raise InvalidValue("r1_red_days", "must be more than r1_stuck_at_signing_days")
    if flat["r2_red_days"] <= flat["r2_inactive_days"]:
        raise InvalidValue("r2_red_days", "must be more than r2_inactive_days")
    weights = [flat[k] for k in CHECKS if k.startswith("weights.")]
    if sum(weights) != 100:
        raise InvalidValue("weights", f"must add up to 100 points, not {sum(weights)}")
    if not flat["grades.excellent"] > flat["grades.good"] > flat["grades.fair"]:
        raise InvalidValue("grades", "must fall from excellent to good to fair")
    s = [flat[f"satisfaction.{k}"] for k in ("satisfied", "basically_satisfied", "dissatisfied")]
    if not s[0] >= s[1] >= s[2]:
        raise InvalidValue("satisfaction", "must not rise from satisfied to dissatisfied")
    return _nest(flat)


@dataclass(frozen=True)
class Rules:
    """One version of the rules as the workflow reads them."""

    version: int
    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        head, _, tail = key.partition(".")
        for values in (self.values, DEFAULTS):
            if head in values and (not tail or tail in values[head]):
                return values[head][tail] if tail else values[head]
        raise KeyError(key)


DEFAULT_RULES = Rules(0, DEFAULTS)


class RuleSet(CobuildAggregate):
    subject = "rule set"

    @staticmethod
    def create_id(version: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"/cobuild/rulesets/{version}")

    @classmethod
    def publish(cls, by: Attribution, current: Rules, changes: Mapping[str, Any],
                note: str | None = None) -> "RuleSet":
        version = current.version + 1
        return cls(id=cls.create_id(version), version=version,
                   values=merged_values(changes, current.values), note=note, **by.fields())

    @event("RuleSetPublished")
    def __init__(self, id: UUID, version: int, values: dict[str, Any],
                 note: str | None, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.number = version
        self.values = values
        self.note = note
        self.published_at = occurred_at
        self.state = "published"

    @property
    def rules(self) -> Rules:
        return Rules(self.number, self.values)
