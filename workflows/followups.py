"""Commands on follow-up cases (督办) by people: supervisors open and close, the responsible
organisation answers.  The workflow's own openings and closings are in ``workflows.policies``."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from domain.base import Actor, CobuildAggregate
from domain.commitment import PublicCommitment
from domain.errors import InvalidValue
from domain.followup import FollowUpCase
from domain.pairing import Pairing
from domain.task import ServiceTask
from workflows.authorisation import require_acting_for, require_region, require_role
from workflows.core import EngineCore, Outcome

SUBJECTS: dict[str, type[CobuildAggregate]] = {
    "pairing": Pairing, "commitment": PublicCommitment, "task": ServiceTask}


class FollowUpCommands(EngineCore):
    def open_followup(self, actor: Actor, subject_type: str, subject_id: UUID,
                      responsible_id: UUID, note: str,
                      measured: dict[str, Any] | None = None,
                      occurred_at: datetime | None = None) -> Outcome:
        """A supervisor opens a case by hand about something it has seen."""
        require_role(actor, "supervisor-opens-followups", "admin", "supervisor")
        require_region(actor, self.organisation_facts(responsible_id))
        if subject_type not in SUBJECTS:
            raise InvalidValue("subject_type", f"must be one of {', '.join(SUBJECTS)}")
        subject = self.load(SUBJECTS[subject_type], subject_id)
        if responsible_id not in {o.id for o in self.parties(subject)}:
            raise InvalidValue("responsible_id", f"is not a party of this {subject.subject}")
        by = self.attribution(actor, occurred_at)
        case = FollowUpCase.open(by, uuid4(), subject_type, subject_id, "manual",
                                 responsible_id, measured, "warning", note)
        return self.commit(case)

    def respond_followup(self, actor: Actor, case_id: UUID, text: str,
                         occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                         reason: str | None = None,
                         expected_version: int | None = None) -> Outcome:
        case = self.load(FollowUpCase, case_id)
        self.require_visible(actor, case)
        self.check_version(case, expected_version)
        by = self.attribution(actor, occurred_at, on_behalf_of, reason)
        require_acting_for(actor, self.acting_for(by))
        case.respond(by, text)
        return self.commit(case)

    def close_followup(self, actor: Actor, case_id: UUID, resolution: str, reason: str,
                       occurred_at: datetime | None = None,
                       expected_version: int | None = None) -> Outcome:
        require_role(actor, "supervisor-closes-followups", "admin", "supervisor")
        case = self.load(FollowUpCase, case_id)
        require_region(actor, *self.parties(case))
        self.check_version(case, expected_version)
        case.close(self.attribution(actor, occurred_at), resolution, reason)
        return self.commit(case)
