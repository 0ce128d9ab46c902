"""年度考核 / 结果联评: one evaluation round per programme region and year (docs/domain.md).

```
EvaluationOpened(year, region, rule_set_version) ─► open
open/computed ─JointRatingSubmitted (a party about the other side, once per side)─► open
open/computed ─SatisfactionRecorded (aggregated counts; a later record replaces)─► open
open/computed ─ScoresComputed(snapshot)─► computed
computed ─ResultPublicised(from_on, until)─► publicised                        (公示)
publicised ─ObjectionRaised─► publicised
publicised ─PublicityEnded (workflow, the publicity timer)─► publicity_ended
not finalised ─ObjectionResolved(dismissed)─► same state
not finalised ─ObjectionResolved(upheld)─► open      (correct, compute and publicise again)
publicity_ended ─ResultFinalised(grades)─► finalised (final; no objection may be open)
```

A new rating or survey after scores were computed sends the round back to ``open``, so what
is publicised always includes every input.  The snapshot is frozen into ``ScoresComputed``
and the grades into ``ResultFinalised``: a finished round reads the same however many
events are recorded later.  Results are listed, never ranked.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Mapping
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.checks import check_date, check_reason
from domain.errors import Duplicate, InvalidValue, NotPermitted

FIVE_GOOD = ("ideology", "mechanism", "teamwork", "results", "response")
SATISFACTION_LEVELS = ("satisfied", "basically_satisfied", "dissatisfied", "unknown")
SIDES = ("giver", "receiver")
RESOLUTIONS = ("upheld", "dismissed")
STATES = ("open", "computed", "publicised", "publicity_ended", "finalised")
_REGION = re.compile(r"^(\d{2}|\d{4}|\d{6}|\d{9}|\d{12})$")
MAX_RESPONDENTS = 1_000_000


def check_scores(scores: Mapping[str, Any]) -> dict[str, int]:
    """One whole number from 0 to 100 for each of the five 五好 dimensions."""
    if not isinstance(scores, Mapping) or set(scores) != set(FIVE_GOOD):
        raise InvalidValue("scores", f"must score exactly {', '.join(FIVE_GOOD)}")
    checked = {}
    for name in FIVE_GOOD:
        value = scores[name]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise InvalidValue(f"scores.{name}", f"must be a whole number from 0 to 100, not {value!r}")
        checked[name] = value
    return checked


def check_counts(counts: Mapping[str, Any]) -> dict[str, int]:
    """How many people answered each level: aggregated counts, no personal data."""
    if not isinstance(counts, Mapping) or not set(counts) <= set(SATISFACTION_LEVELS):
        raise InvalidValue("counts", f"levels are {', '.join(SATISFACTION_LEVELS)}")
    checked = {}
    for level in SATISFACTION_LEVELS:
        value = counts.get(level, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_RESPONDENTS:
            raise InvalidValue(f"counts.{level}", f"must be a count of people, not {value!r}")
        checked[level] = value
    if not sum(checked.values()):
        raise InvalidValue("counts", "a survey has at least one answer")
    return checked


class EvaluationRound(CobuildAggregate):
    subject = "evaluation round"

    @staticmethod
    def create_id(region: str, year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"/cobuild/evaluations/{region}/{year}")

    @classmethod
    def open(cls, by: Attribution, year: int, region: str, rule_set_version: int) -> "EvaluationRound":
        if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
            raise InvalidValue("year", f"must be a year from 2000 to 2100, not {year!r}")
        if not isinstance(region, str) or not _REGION.match(region):
            raise InvalidValue("region", "must be a division code of 2, 4, 6, 9 or 12 digits")
        if not isinstance(rule_set_version, int) or rule_set_version < 0:
            raise InvalidValue("rule_set_version", "must be a published rule set version")
        return cls(id=cls.create_id(region, year), year=year, region=region,
                   rule_set_version=rule_set_version, **by.fields())

    @event("EvaluationOpened")
    def __init__(self, id: UUID, year: int, region: str, rule_set_version: int,
                 actor: dict[str, Any], on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.year = year
        self.region = region
        self.rule_set_version = rule_set_version
        self.ratings: dict[str, dict[str, dict[str, Any]]] = {}
        self.satisfaction: dict[str, dict[str, int]] = {}
        self.snapshot: dict[str, Any] | None = None
        self.publicity: dict[str, date] | None = None
        self.objections: dict[str, dict[str, Any]] = {}
        self.grades: dict[str, dict[str, str]] | None = None
        self.state = "open"

    # -- inputs ---------------------------------------------------------------------------

    def submit_rating(self, by: Attribution, pairing_id: UUID, side: str,
                      scores: Mapping[str, Any]) -> None:
        """A party of the pairing (``side``) rates the other side on the five 五好."""
        self.require_state("submit a joint rating", "open", "computed")
        if side not in SIDES:
            raise InvalidValue("side", f"must be one of {', '.join(SIDES)}")
        if side in self.ratings.get(str(pairing_id), {}):
            raise Duplicate(f"the {side} side has already rated this pairing in this round",
                            pairing_id=str(pairing_id), side=side)
        self._rating_submitted(pairing_id=pairing_id, by_side=side, scores=check_scores(scores),
                               **by.fields())

    @event("JointRatingSubmitted")
    def _rating_submitted(self, pairing_id: UUID, by_side: str, scores: dict[str, int],
                          actor: dict[str, Any], on_behalf_of: UUID | None,
                          occurred_at: datetime) -> None:
        self.ratings.setdefault(str(pairing_id), {})[by_side] = scores
        self.state = "open"

    def record_satisfaction(self, by: Attribution, pairing_id: UUID,
                            counts: Mapping[str, Any]) -> None:
        self.require_state("record satisfaction", "open", "computed")
        self._satisfaction_recorded(pairing_id=pairing_id, counts=check_counts(counts),
                                    **by.fields())

    @event("SatisfactionRecorded")
    def _satisfaction_recorded(self, pairing_id: UUID, counts: dict[str, int],
                               actor: dict[str, Any], on_behalf_of: UUID | None,
                               occurred_at: datetime) -> None:
        self.satisfaction[str(pairing_id)] = counts
        self.state = "open"

    # -- scores ---------------------------------------------------------------------------

    def record_scores(self, by: Attribution, snapshot: Mapping[str, Any]) -> None:
        """Freeze the computed indicators, points and grades into the round."""
        self.require_state("compute scores", "open", "computed")
        if not isinstance(snapshot, Mapping) or not all(
                isinstance(snapshot.get(k), list) for k in ("pairings", "organisations")):
            raise InvalidValue("snapshot", "lists pairings and organisations")
        if snapshot.get("rule_set_version") != self.rule_set_version:
            raise InvalidValue("snapshot", f"must be computed with rule set version {self.rule_set_version}")
        self._scores_computed(snapshot=dict(snapshot), **by.fields())

    @event("ScoresComputed")
    def _scores_computed(self, snapshot: dict[str, Any], actor: dict[str, Any],
                         on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.snapshot = snapshot
        self.state = "computed"

    # -- publicity (公示) and objections --------------------------------------------------------

    def publicise(self, by: Attribution, from_on: date, days: int) -> None:
        self.require_state("publicise the result", "computed")
        check_date("from_on", from_on)
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 90:
            raise InvalidValue("days", "a publicity period lasts 1 to 90 days")
        self._publicised(from_on=from_on, until=from_on + timedelta(days=days - 1), **by.fields())

    @event("ResultPublicised")
    def _publicised(self, from_on: date, until: date, actor: dict[str, Any],
                    on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.publicity = {"from_on": from_on, "until": until}
        self.state = "publicised"

    def parties(self) -> set[str]:
        """The organisations the computed result is about."""
        found: set[str] = set()
        for item in (self.snapshot or {}).get("pairings", []):
            found.update((item["giver_id"], item["receiver_id"]))
        return found

    def raise_objection(self, by: Attribution, objection_id: str, reason: str,
                        pairing_id: UUID | None = None) -> None:
        self.require_state("raise an objection", "publicised")
        organisation = str(by.organisation_id) if by.organisation_id else None
        if organisation is not None and organisation not in self.parties():
            raise NotPermitted("party-objects", "only an organisation in the result may object to it")
        if pairing_id is not None:
            items = {i["pairing_id"]: i for i in (self.snapshot or {}).get("pairings", [])}
            item = items.get(str(pairing_id))
            if item is None:
                raise InvalidValue("pairing_id", "is not in the publicised result")
            if organisation is not None and organisation not in (item["giver_id"], item["receiver_id"]):
                raise NotPermitted("party-objects", "an organisation objects only about its own pairings")
        if objection_id in self.objections:
            raise Duplicate("that objection was already raised", objection_id=objection_id)
        self._objection_raised(objection_id=objection_id, organisation_id=by.organisation_id,
                               pairing_id=pairing_id, reason=check_reason(reason), **by.fields())

    @event("ObjectionRaised")
    def _objection_raised(self, objection_id: str, organisation_id: UUID | None,
                          pairing_id: UUID | None, reason: str, actor: dict[str, Any],
                          on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.objections[objection_id] = {
            "organisation_id": organisation_id, "pairing_id": pairing_id, "reason": reason,
            "raised_at": occurred_at, "resolution": None}

    @property
    def open_objections(self) -> list[str]:
        return [k for k, o in self.objections.items() if o["resolution"] is None]

    def resolve_objection(self, by: Attribution, objection_id: str, resolution: str,
                          reason: str) -> None:
        self.require_state("resolve an objection", "open", "computed", "publicised",
                           "publicity_ended")
        if objection_id not in self.open_objections:
            raise InvalidValue("objection_id", "names no open objection of this round")
        if resolution not in RESOLUTIONS:
            raise InvalidValue("resolution", f"must be one of {', '.join(RESOLUTIONS)}")
        self._objection_resolved(objection_id=objection_id, resolution=resolution,
                                 reason=check_reason(reason), **by.fields())

    @event("ObjectionResolved")
    def _objection_resolved(self, objection_id: str, resolution: str, reason: str,
                            actor: dict[str, Any], on_behalf_of: UUID | None,
                            occurred_at: datetime) -> None:
        self.objections[objection_id]["resolution"] = resolution
        if resolution == "upheld":
            self.publicity = None
            self.state = "open"

    def end_publicity(self, by: Attribution, today: date) -> None:
        """The workflow records that the publicity period is over."""
        self.require_state("end the publicity period", "publicised")
        assert self.publicity is not None
        if today <= self.publicity["until"]:
            raise InvalidValue("today", f"the publicity period runs until {self.publicity['until']}")
        self._publicity_ended(until=self.publicity["until"], **by.fields())

    @event("PublicityEnded")
    def _publicity_ended(self, until: date, actor: dict[str, Any], on_behalf_of: UUID | None,
                         occurred_at: datetime) -> None:
        self.state = "publicity_ended"

    # -- the end ------------------------------------------------------------------------------

    def finalise(self, by: Attribution) -> None:
        self.require_state("finalise the result", "publicity_ended")
        if self.open_objections:
            raise NotPermitted("objections-open",
                               f"{len(self.open_objections)} objection(s) are still open")
        assert self.snapshot is not None
        grades = {
            "pairings": {i["pairing_id"]: i["grade"] for i in self.snapshot["pairings"]},
            "organisations": {o["organisation_id"]: o["grade"]
                              for o in self.snapshot["organisations"]},
        }
        self._finalised(grades=grades, **by.fields())

    @event("ResultFinalised")
    def _finalised(self, grades: dict[str, dict[str, str]], actor: dict[str, Any],
                   on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.grades = grades
        self.state = "finalised"
