"""Commands on service tasks: need → claim → plan → delivery → confirmation → rating."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Sequence
from uuid import UUID

from domain.base import Actor, CobuildAggregate
from domain.errors import InvalidValue
from domain.organisation import GIVING_KINDS, RECEIVING_KINDS
from domain.task import ServiceTask
from workflows.authorisation import may_see_need, require_acting_for, require_system
from workflows.core import EngineCore, Outcome
from workflows.pairings import PairingCommands


class TaskCommands(PairingCommands, EngineCore):
    def raise_need(self, actor: Actor, receiver_id: UUID, category: str, title: str,
                   details: str | None = None, wanted_by: date | None = None,
                   occurred_at: datetime | None = None,
                   on_behalf_of: UUID | None = None, reason: str | None = None) -> Outcome:
        by = self.attribution(actor, occurred_at, on_behalf_of, reason)
        require_acting_for(actor, self.acting_for(by))
        # The kind never changes: the facts authorisation keeps answer it without a load.
        if self.organisation_facts(receiver_id).kind not in RECEIVING_KINDS:
            raise InvalidValue("receiver_id", "needs are raised by villages and communities")
        task = ServiceTask.raise_need(by, receiver_id, category, title, details, wanted_by)
        return self.commit(task)

    def visible_beyond_parties(self, actor: Actor, aggregate: CobuildAggregate) -> bool:
        if not isinstance(aggregate, ServiceTask) or actor.organisation_id is None:
            return False
        paired = (aggregate.state == "open" and self.pairing_in_force_between(
            actor.organisation_id, aggregate.receiver_id) is not None)
        return may_see_need(actor, aggregate.state, paired)

    def claim_task(self, actor: Actor, task_id: UUID, giver_id: UUID,
                   occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                   reason: str | None = None,
                   expected_version: int | None = None) -> Outcome:
        task = self.load(ServiceTask, task_id)
        by = self.attribution(actor, occurred_at, on_behalf_of, reason)
        require_acting_for(actor, self.acting_for(by))
        # An open need is visible to its receiver's partners; a pooled one to every giver.
        # Anyone else learns nothing about it (not even its state or version).
        self.require_visible(actor, task)
        self.check_version(task, expected_version)
        if self.organisation_facts(giver_id).kind not in GIVING_KINDS:
            raise InvalidValue("giver_id", "only giving organisations claim needs")
        paired = self.pairing_in_force_between(giver_id, task.receiver_id) is not None
        task.claim(by, giver_id, paired)
        return self.commit(task)

    def withdraw_claim(self, actor: Actor, task_id: UUID, reason: str,
                       occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                       expected_version: int | None = None) -> Outcome:
        task, by = self.load_as_party(
            actor, ServiceTask, task_id, expected_version, occurred_at, on_behalf_of, reason)
        task.withdraw_claim(by, reason)
        return self.commit(task)

    def plan_task(self, actor: Actor, task_id: UUID, due_on: date,
                  budget_yuan: Decimal | None = None, occurred_at: datetime | None = None,
                  on_behalf_of: UUID | None = None, reason: str | None = None,
                  expected_version: int | None = None) -> Outcome:
        task, by = self.load_as_party(
            actor, ServiceTask, task_id, expected_version, occurred_at, on_behalf_of, reason)
        task.plan(by, due_on, budget_yuan)
        return self.commit(task)

    def report_delivery(self, actor: Actor, task_id: UUID, delivered_at: datetime,
                        value_yuan: Decimal | None = None, note: str | None = None,
                        evidence_sha256: str | None = None, evidence: Sequence[str] = (),
                        occurred_at: datetime | None = None,
                        on_behalf_of: UUID | None = None, reason: str | None = None,
                        expected_version: int | None = None) -> Outcome:
        """``occurred_at`` is when the delivery was reported (a clerk may enter it late);
        ``delivered_at`` when the work was done, never after the report."""
        task, by = self.load_as_party(
            actor, ServiceTask, task_id, expected_version, occurred_at, on_behalf_of, reason)
        files = self.attached_evidence(actor, evidence)
        task.report_delivery(by, delivered_at, value_yuan, note, evidence_sha256, files)
        self.refer_to_evidence(task, files)
        return self.commit(task)

    def confirm_delivery(self, actor: Actor, task_id: UUID, occurred_at: datetime | None = None,
                         on_behalf_of: UUID | None = None, reason: str | None = None,
                         expected_version: int | None = None) -> Outcome:
        task, by = self.load_as_party(
            actor, ServiceTask, task_id, expected_version, occurred_at, on_behalf_of, reason)
        task.confirm_delivery(by)
        return self.commit(task)

    def reject_delivery(self, actor: Actor, task_id: UUID, reason: str,
                        occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                        expected_version: int | None = None) -> Outcome:
        task, by = self.load_as_party(
            actor, ServiceTask, task_id, expected_version, occurred_at, on_behalf_of, reason)
        task.reject_delivery(by, reason)
        return self.commit(task)

    def rate_task(self, actor: Actor, task_id: UUID, level: str, comment: str | None = None,
                  occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                  reason: str | None = None,
                  expected_version: int | None = None) -> Outcome:
        task, by = self.load_as_party(
            actor, ServiceTask, task_id, expected_version, occurred_at, on_behalf_of, reason)
        task.rate_satisfaction(by, level, comment)
        return self.commit(task)

    def close_task(self, actor: Actor, task_id: UUID, occurred_at: datetime | None = None,
                   on_behalf_of: UUID | None = None, reason: str | None = None,
                   expected_version: int | None = None) -> Outcome:
        task, by = self.load_as_party(
            actor, ServiceTask, task_id, expected_version, occurred_at, on_behalf_of, reason)
        task.close(by)
        return self.commit(task)

    def cancel_task(self, actor: Actor, task_id: UUID, reason: str,
                    occurred_at: datetime | None = None, on_behalf_of: UUID | None = None,
                    expected_version: int | None = None) -> Outcome:
        task, by = self.load_as_party(
            actor, ServiceTask, task_id, expected_version, occurred_at, on_behalf_of, reason)
        task.cancel(by, reason)
        return self.commit(task)

    def pool_need(self, actor: Actor, task_id: UUID, window_days: int | None = None) -> Outcome:
        require_system(actor)
        task = self.load(ServiceTask, task_id)
        task.pool(self.attribution(actor), self.today(), window_days)
        return self.commit(task)

    def flag_confirmation_overdue(self, actor: Actor, task_id: UUID, window_days: int) -> Outcome:
        require_system(actor)
        task = self.load(ServiceTask, task_id)
        task.flag_confirmation_overdue(self.attribution(actor), self.today(), window_days)
        return self.commit(task)
