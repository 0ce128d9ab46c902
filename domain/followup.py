"""督办: a follow-up case about a pairing, commitment or task that needs attention.

Opened by the workflow when a rule hits (with the rule and what it measured) or by a
supervisor.  The responsible organisation answers; a supervisor closes the case, or the
workflow closes it itself (``resolved``) once the condition has cleared.

```
FollowUpOpened ─► open ─FollowUpResponded (responsible org)─► responded
open/responded ─FollowUpUpdated (workflow: the hit got worse)─► same state
open/responded ─FollowUpClosed(resolution, reason)─► closed (final)
```
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.checks import check_reason, check_text
from domain.errors import InvalidValue, NotPermitted
from domain.pairing_rules import RULE_IDS, SEVERITIES

SUBJECT_TYPES = ("pairing", "commitment", "task")
RESOLUTIONS = ("resolved", "escalated", "dismissed")
LIVE_STATES = ("open", "responded")
STATES = (*LIVE_STATES, "closed")
# A rule's hit opens a case, or a supervisor by hand.
REASONS = (*RULE_IDS, "manual")


class FollowUpCase(CobuildAggregate):
    subject = "follow-up case"

    @staticmethod
    def create_id(subject_id: UUID, rule: str, occurrence: str) -> UUID:
        """The case a rule opens about a subject, once per occurrence of the hit."""
        return uuid5(NAMESPACE_URL, f"/cobuild/followups/{subject_id}/{rule}/{occurrence}")

    @classmethod
    def open(cls, by: Attribution, case_id: UUID, subject_type: str, subject_id: UUID,
             rule: str, responsible_id: UUID, measured: dict[str, Any] | None = None,
             severity: str = "warning", note: str | None = None) -> "FollowUpCase":
        if subject_type not in SUBJECT_TYPES:
            raise InvalidValue("subject_type", f"must be one of {', '.join(SUBJECT_TYPES)}")
        if rule not in REASONS:
            raise InvalidValue("rule", f"must be one of {', '.join(REASONS)}")
        if severity not in SEVERITIES:
            raise InvalidValue("severity", f"must be one of {', '.join(SEVERITIES)}")
        if rule == "manual" and not (note or "").strip():
            raise InvalidValue("note", "a case opened by hand says what needs following up")
        return cls(
            id=case_id, subject_type=subject_type, subject_id=subject_id, rule=rule,
            responsible_id=responsible_id, measured=dict(measured or {}), severity=severity,
            note=check_text("note", note, 2000) if note is not None else None, **by.fields(),
        )

    @event("FollowUpOpened")
    def __init__(self, id: UUID, subject_type: str, subject_id: UUID, rule: str,
                 responsible_id: UUID, measured: dict[str, Any], severity: str,
                 note: str | None, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.subject_type = subject_type
        self.subject_id = subject_id
        self.rule = rule
        self.responsible_id = responsible_id
        self.organisation_id = responsible_id  # whose case it is, for visibility
        self.measured = measured
        self.severity = severity
        self.note = note
        self.opened_at = occurred_at
        self.responses: list[dict[str, Any]] = []
        self.resolution: str | None = None
        self.closed_at: datetime | None = None
        self.state = "open"

    def update(self, by: Attribution, severity: str, measured: dict[str, Any]) -> None:
        """The workflow records that the hit got worse (a warning turned red)."""
        self.require_state("update", *LIVE_STATES)
        if severity not in SEVERITIES:
            raise InvalidValue("severity", f"must be one of {', '.join(SEVERITIES)}")
        self._updated(severity=severity, measured=dict(measured), **by.fields())

    @event("FollowUpUpdated")
    def _updated(self, severity: str, measured: dict[str, Any], actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.severity = severity
        self.measured = measured

    def respond(self, by: Attribution, text: str) -> None:
        self.require_state("respond", *LIVE_STATES)
        if by.organisation_id != self.responsible_id:
            raise NotPermitted("responsible-responds",
                               "only the responsible organisation answers a follow-up case")
        if by.occurred_at < self.opened_at:
            raise InvalidValue("occurred_at", "is before the case was opened")
        self._responded(text=check_text("text", text, 4000), **by.fields())

    @event("FollowUpResponded")
    def _responded(self, text: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                   occurred_at: datetime) -> None:
        self.responses.append({"text": text, "at": occurred_at})
        self.state = "responded"

    def close(self, by: Attribution, resolution: str, reason: str) -> None:
        self.require_state("close", *LIVE_STATES)
        if resolution not in RESOLUTIONS:
            raise InvalidValue("resolution", f"must be one of {', '.join(RESOLUTIONS)}")
        self._closed(resolution=resolution, reason=check_reason(reason), **by.fields())

    @event("FollowUpClosed")
    def _closed(self, resolution: str, reason: str, actor: dict[str, Any],
                on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.resolution = resolution
        self.closed_at = occurred_at
        self.state = "closed"

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES
