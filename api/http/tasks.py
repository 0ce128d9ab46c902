"""/tasks: the 三张清单 flow — a village's need, claimed, planned, delivered, confirmed, rated."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import actor, created, done, engine, etag, expected_version
from api.http.fields import Amount, Label, LocalDate, LocalTime, Moment, Money, Sha256, Text, one_of
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Occurred, Represented
from domain import labels
from domain.task import CATEGORIES, LEVELS, ServiceTask

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks",
                description="Service tasks (需求 → 认领 → 交付 → 确认): delivery and confirmation "
                            "are two facts by two parties")


class RaiseNeed(Occurred, Represented):
    receiver_id = ma.fields.UUID(required=True)
    category = one_of(CATEGORIES, required=True)
    title = Text(required=True, max_length=200)
    details = Text(max_length=4000, multiline=True)
    wanted_by = LocalDate()


class Claim(Occurred, Represented):
    giver_id = ma.fields.UUID(required=True)


class Plan(Occurred, Represented):
    due_on = LocalDate(required=True)
    budget_yuan = Amount()


class Deliver(Represented):
    delivered_at = Moment(required=True)
    value_yuan = Amount()
    note = Text(max_length=2000, multiline=True)
    evidence_sha256 = Sha256()


class Step(Occurred, Represented):
    """Confirm or close: only the time and representation."""


class WithReason(Occurred, Represented):
    reason = Text(required=True, max_length=2000, multiline=True)


class Rate(Occurred, Represented):
    level = one_of(LEVELS, required=True)
    comment = Text(max_length=2000, multiline=True)


class TaskSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    version = ma.fields.Integer(required=True)
    state = ma.fields.String(required=True)
    state_label = Label("state", labels.TASK_STATES)
    receiver_id = ma.fields.UUID(required=True)
    category = ma.fields.String(required=True)
    category_label = Label("category", labels.TASK_CATEGORIES)
    title = ma.fields.String(required=True)
    details = ma.fields.String(allow_none=True)
    wanted_by = ma.fields.Date(allow_none=True)
    raised_at = LocalTime(required=True)
    pooled_on = ma.fields.Date(allow_none=True)
    claimer_id = ma.fields.UUID(allow_none=True)
    due_on = ma.fields.Date(allow_none=True)
    budget_yuan = Money(allow_none=True)
    delivered_at = LocalTime(allow_none=True)
    value_yuan = Money(allow_none=True)
    confirmation_overdue = ma.fields.Boolean(required=True)
    confirmed_at = LocalTime(allow_none=True)
    satisfaction = ma.fields.String(allow_none=True)
    satisfaction_label = Label("satisfaction", labels.SATISFACTION_LEVELS)
    closed_at = LocalTime(allow_none=True)
    cancel_reason = ma.fields.String(allow_none=True)


def task_body(task: ServiceTask) -> dict[str, Any]:
    # Labels (``attribute`` set) are read from the code they name.
    return {name: getattr(task, name) for name, f in TaskSchema().fields.items()
            if f.attribute is None}


@command(blp, "", RaiseNeed, "Raise a need (the receiving village or community)", status=201)
def raise_need(body):
    outcome = engine().raise_need(actor(), **body)
    return created(outcome, f"/tasks/{outcome.id}")


@blp.route("/<uuid:task_id>", methods=["GET"])
@blp.response(200, TaskSchema, headers=ETAG_HEADER)
def read_task(task_id: UUID):
    """Read a task."""
    task = engine().read(actor(), ServiceTask, task_id)
    return task_body(task), 200, etag(task.version)



@command(blp, "/<uuid:task_id>/claim", Claim,
         "Claim a need (a giving organisation paired with the village, or any once pooled)")
def claim_task(body, task_id: UUID):
    return done(engine().claim_task(actor(), task_id, **body,
                                    expected_version=expected_version()))


@command(blp, "/<uuid:task_id>/withdraw-claim", WithReason, "Withdraw a claim (the claimer)")
def withdraw_claim(body, task_id: UUID):
    return done(engine().withdraw_claim(actor(), task_id, **body,
                                        expected_version=expected_version()))


@command(blp, "/<uuid:task_id>/plan", Plan, "Plan the delivery (the claimer)")
def plan_task(body, task_id: UUID):
    return done(engine().plan_task(actor(), task_id, **body,
                                   expected_version=expected_version()))


@command(blp, "/<uuid:task_id>/deliver", Deliver, "Report the delivery (the claimer)")
def report_delivery(body, task_id: UUID):
    return done(engine().report_delivery(actor(), task_id, **body,
                                         expected_version=expected_version()))


@command(blp, "/<uuid:task_id>/confirm", Step, "Confirm the delivery (the receiver)")
def confirm_delivery(body, task_id: UUID):
    return done(engine().confirm_delivery(actor(), task_id, **body,
                                          expected_version=expected_version()))


@command(blp, "/<uuid:task_id>/reject", WithReason, "Reject the delivery (the receiver)")
def reject_delivery(body, task_id: UUID):
    return done(engine().reject_delivery(actor(), task_id, **body,
                                         expected_version=expected_version()))


@command(blp, "/<uuid:task_id>/rate", Rate, "Rate satisfaction (the receiver)")
def rate_task(body, task_id: UUID):
    return done(engine().rate_task(actor(), task_id, **body,
                                   expected_version=expected_version()))


@command(blp, "/<uuid:task_id>/close", Step, "Close a rated task")
def close_task(body, task_id: UUID):
    return done(engine().close_task(actor(), task_id, **body,
                                    expected_version=expected_version()))


@command(blp, "/<uuid:task_id>/cancel", WithReason, "Cancel an open, claimed or planned task")
def cancel_task(body, task_id: UUID):
    return done(engine().cancel_task(actor(), task_id, **body,
                                     expected_version=expected_version()))
