"""What the workflow does when something is recorded or a deadline passes.

Every reaction is a reconciliation: from the subject's current state and the rule set, work
out which timers, flags and follow-up cases *should* exist, and write only the difference.
Running a reaction twice therefore writes nothing the second time, which is what makes a
worker that is killed between writing and recording its position safe to restart.

The rules R1, R2 and R5 are the ones the reports use (``domain.pairing_rules``), fed with the
facts the worker finds through its own index (``workflows.scheduler.WorkerState``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.base import SYSTEM, Attribution, CobuildAggregate
from domain.commitment import PublicCommitment
from domain.evaluation import EvaluationRound
from domain import labels
from domain.followup import FollowUpCase
from domain.pairing import Pairing, PairingSlot
from domain.ruleset import RuleSet as PublishedRuleSet
from domain.ruleset import Rules
from domain.task import ServiceTask
from domain.timer import Timer
from domain import pairing_rules as rules_of_pairings
from domain.pairing_rules import SEVERITIES, Thresholds
from workflows.store.clock import local_date, start_of_local_day
from workflows.core import EngineCore
from workflows.errors import NotFound

A = TypeVar("A", bound=CobuildAggregate)

PAIRING_RULES = ("R1", "R2", "R5")
# A commitment in these states past its due date is late (claimed counts until confirmed).
OPEN_COMMITMENT_STATES = ("public", "overdue", "claimed")


# -- the inactivity rules ----------------------------------------------------------------------

@dataclass(frozen=True)
class PairingFacts:
    """What R1, R2 and R5 look at, as the worker finds it, with who answers for a hit."""

    pairing_id: UUID
    giver_id: UUID
    in_force: bool
    in_force_since: date | None
    resumed_on: date | None = None
    last_cosigned_activity_on: date | None = None
    last_confirmed_delivery_on: date | None = None
    last_confirmed_fulfilment_on: date | None = None
    first_public_commitment_on: date | None = None
    # (commitment id, due date, maker id) of every commitment past due and not fulfilled
    overdue_commitments: tuple[tuple[UUID, date, UUID], ...] = ()

    def for_rules(self) -> rules_of_pairings.PairingFacts:
        outcomes = [d for d in (self.last_confirmed_delivery_on,
                                self.last_confirmed_fulfilment_on) if d]
        return rules_of_pairings.PairingFacts(
            state="in_force" if self.in_force else "not_in_force",
            in_force_on=self.in_force_since, resumed_on=self.resumed_on,
            last_activity_on=self.last_cosigned_activity_on,
            last_confirmed_outcome_on=max(outcomes, default=None),
            first_public_commitment_on=self.first_public_commitment_on,
            overdue_since=tuple(due for _, due, _ in self.overdue_commitments))


@dataclass(frozen=True)
class Hit:
    rule: str
    severity: str
    measured: dict[str, Any]
    responsible_id: UUID


def inactivity_hits(facts: PairingFacts, rules: Rules, today: date) -> dict[str, Hit]:
    """The rules among R1, R2, R5 that hit the pairing on ``today`` (``domain.pairing_rules``
    decides; this adds who answers for the hit and, for R5, which commitment is the worst)."""
    ruleset = Thresholds.from_published(rules)
    pairing = facts.for_rules()
    hits: dict[str, Hit] = {}
    for rule in (rules_of_pairings.stuck_at_signing, rules_of_pairings.inactive,
                 rules_of_pairings.slow):
        hit = rule(pairing, today, ruleset)
        if hit is None:
            continue
        measured, responsible = {**hit.measured, "rule_set_version": rules.version}, facts.giver_id
        if hit.rule == "R5":
            worst_id, worst_due, responsible = min(
                facts.overdue_commitments, key=lambda c: (c[1], str(c[0])))
            measured.update(commitment_id=str(worst_id), due_on=worst_due.isoformat())
        hits[hit.rule] = Hit(hit.rule, hit.severity, measured, responsible)
    return hits


def next_inactivity_check(facts: PairingFacts, rules: Rules, today: date) -> date | None:
    """The first day after ``today`` on which the hits could change without a new event."""
    return rules_of_pairings.next_change(facts.for_rules(), today, Thresholds.from_published(rules),
                                         PAIRING_RULES)


# -- one unit of work: everything a reaction changes is saved in one transaction ----------------

class Links(Protocol):
    """The worker's index of which commitments and tasks belong to which pairing."""

    def commitments_of(self, pairing_id: UUID) -> list[UUID]: ...
    def resumed_on(self, pairing_id: UUID) -> date | None: ...
    def tasks_between(self, giver_id: UUID, receiver_id: UUID) -> list[UUID]: ...
    def live_subjects(self) -> list[tuple[str, UUID]]: ...


@dataclass
class Step:
    engine: EngineCore
    by: Attribution
    loaded: dict[UUID, CobuildAggregate] = field(default_factory=dict)
    effects: list[str] = field(default_factory=list)

    @property
    def today(self) -> date:
        return local_date(self.by.occurred_at)

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in self.loaded:
            try:
                self.loaded[aggregate_id] = self.engine.load(cls, aggregate_id)
            except NotFound:
                return None
        aggregate = self.loaded[aggregate_id]
        return aggregate if isinstance(aggregate, cls) else None

    def add(self, aggregate: CobuildAggregate) -> None:
        self.loaded[aggregate.id] = aggregate

    def commit(self) -> int:
        changed = [a for a in self.loaded.values() if a.pending_events]
        if changed:
            self.engine.commit(*changed)
        return len(changed)


class WorkflowPolicies:
    """The reactions (to events) and firings (of timers) the worker runs."""

    def __init__(self, engine: EngineCore, links: Links) -> None:
        self.engine = engine
        self.links = links
        # What firing a timer does, by the subject and purpose it was armed with (``arm``).
        self.firings: dict[tuple[str, str], Callable[[Step, Timer], None]] = {
            ("commitment", "due"): self._fire_commitment_due,
            ("commitment", "reminder"): self._fire_commitment_reminder,
            ("task", "claim-window"): self._fire_task_claim_window,
            ("task", "confirmation"): self._fire_task_confirmation,
            ("task", "reminder"): self._fire_task_reminder,
            ("evaluation", "publicity"): self._fire_evaluation_publicity,
            ("pairing", "check"): self._fire_pairing_check,
            ("pairing", "term-end"): self._fire_pairing_term_end,
        }

    def rules(self) -> Rules:
        return self.engine.current_rules()

    def step(self) -> Step:
        return Step(self.engine, Attribution(SYSTEM, self.engine.clock.now()))

    # -- timers ----------------------------------------------------------------------------

    def arm(self, step: Step, subject_type: str, subject_id: UUID, purpose: str,
            due_on: date | None, details: dict[str, Any] | None = None) -> None:
        """Make the (subject, purpose) timer stand for the deadline ``due_on`` (local start of
        day), or for none."""
        timer = step.get(Timer, Timer.create_id(subject_id, purpose))
        if due_on is None:
            if timer is not None and timer.state == "scheduled":
                timer.cancel(step.by, "no longer needed")
            return
        due_at, details = start_of_local_day(due_on), dict(details or {})
        if timer is None:
            step.add(Timer.schedule(step.by, subject_type, subject_id, purpose, due_at, details))
        elif not timer.wants(due_at, details):
            timer.reschedule(step.by, due_at, details)

    # -- reactions ---------------------------------------------------------------------------

    def react(self, event: DomainEventProtocol[UUID]) -> int:
        """Reconcile whatever ``event`` concerns.  Returns how many aggregates were written."""
        step = self.step()
        subject_id = event.originator_id
        if isinstance(event, Pairing.Event):
            self.sync_pairing(step, subject_id)
        elif isinstance(event, PublicCommitment.Event):
            commitment = step.get(PublicCommitment, subject_id)
            if commitment is not None:
                self.sync_commitment(step, commitment)
                self.sync_pairing(step, commitment.pairing_id)
        elif isinstance(event, ServiceTask.Event):
            task = step.get(ServiceTask, subject_id)
            if task is not None:
                self.sync_task(step, task)
                if task.claimer_id is not None:
                    pairing_id = self.pairing_between(task.claimer_id, task.receiver_id)
                    if pairing_id is not None:
                        self.sync_pairing(step, pairing_id)
        elif isinstance(event, EvaluationRound.Event):
            evaluation = step.get(EvaluationRound, subject_id)
            if evaluation is not None:
                self.sync_evaluation(step, evaluation)
        elif isinstance(event, PublishedRuleSet.Event):
            self.resync_all(step)
        return step.commit()

    def pairing_between(self, giver_id: UUID, receiver_id: UUID) -> UUID | None:
        slot_id = PairingSlot.create_id(giver_id, receiver_id)
        if not self.engine.exists(slot_id):
            return None
        return self.engine.load(PairingSlot, slot_id).pairing_id

    def resync_all(self, step: Step) -> None:
        """A new rule set moves windows and thresholds: reconcile every live subject."""
        for subject_type, subject_id in self.links.live_subjects():
            if subject_type == "pairing":
                self.sync_pairing(step, subject_id)
            elif subject_type == "commitment":
                commitment = step.get(PublicCommitment, subject_id)
                if commitment is not None:
                    self.sync_commitment(step, commitment)
            elif subject_type == "task":
                task = step.get(ServiceTask, subject_id)
                if task is not None:
                    self.sync_task(step, task)

    def sync_commitment(self, step: Step, c: PublicCommitment) -> None:
        rules = self.rules()
        live = c.state == "public"
        self.arm(step, "commitment", c.id, "due", c.due_on + timedelta(days=1) if live else None,
                 {"due_on": c.due_on.isoformat(), "round": c.disputes})
        before = rules["reminder_days_before"]
        self.arm(step, "commitment", c.id, "reminder",
                 c.due_on - timedelta(days=before) if live and before else None,
                 {"due_on": c.due_on.isoformat(), "days_before": before,
                  "title": c.content[:60], "organisation_id": str(c.maker_id)})

    def sync_task(self, step: Step, t: ServiceTask) -> None:
        rules = self.rules()
        window = rules["claim_window_days"]
        self.arm(step, "task", t.id, "claim-window",
                 local_date(t.raised_at) + timedelta(days=window) if t.state == "open" else None,
                 {"window_days": window, "round": t.withdrawn_claims})
        r9 = rules["r9_confirmation_days"]
        waiting = t.state == "delivered" and not t.confirmation_overdue
        reported_on = local_date(t.delivery_reported_at) if t.delivery_reported_at else None
        self.arm(step, "task", t.id, "confirmation",
                 reported_on + timedelta(days=r9) if waiting and reported_on else None,
                 {"window_days": r9, "delivery": t.deliveries})
        before = rules["reminder_days_before"]
        self.arm(step, "task", t.id, "reminder",
                 t.due_on - timedelta(days=before) if t.state == "planned" and t.due_on and before
                 else None,
                 {"due_on": t.due_on.isoformat() if t.due_on else None, "days_before": before,
                  "title": t.title[:60], "organisation_id": str(t.claimer_id)})
        if t.state != "delivered" or not t.confirmation_overdue:
            # the R9 case of the latest delivery closes once the receiver has answered
            self.close_case(step, FollowUpCase.create_id(t.id, "R9", f"delivery-{t.deliveries}"),
                            "resolved", "接收方已确认或退回交付")

    def sync_evaluation(self, step: Step, evaluation: EvaluationRound) -> None:
        """The publicity period ends the day after its last day (公示期满)."""
        publicity = evaluation.publicity if evaluation.state == "publicised" else None
        self.arm(step, "evaluation", evaluation.id, "publicity",
                 publicity["until"] + timedelta(days=1) if publicity else None,
                 {"until": publicity["until"].isoformat()} if publicity else None)

    # -- pairings -----------------------------------------------------------------------------

    def pairing_facts(self, step: Step, pairing: Pairing) -> PairingFacts:
        activities = [local_date(a["occurred_at"]) for a in pairing.activities.values()
                      if a["status"] == "cosigned"]
        fulfilled, publicised, overdue = [], [], []
        for commitment_id in self.links.commitments_of(pairing.id):
            c = step.get(PublicCommitment, commitment_id)
            if c is None:
                continue
            if c.fulfilled_at is not None:
                fulfilled.append(local_date(c.fulfilled_at))
            if c.publicised_on is not None:
                publicised.append(c.publicised_on)
            if c.state in OPEN_COMMITMENT_STATES and step.today > c.due_on:
                overdue.append((c.id, c.due_on, c.maker_id))
        delivered = []
        for task_id in self.links.tasks_between(pairing.giver_id, pairing.receiver_id):
            t = step.get(ServiceTask, task_id)
            if t is not None and t.confirmed_at is not None and t.claimer_id == pairing.giver_id:
                delivered.append(local_date(t.confirmed_at))
        in_force = pairing.state == "in_force" and not pairing.expired_on(step.today)
        return PairingFacts(
            pairing_id=pairing.id, giver_id=pairing.giver_id, in_force=in_force,
            in_force_since=pairing.in_force_since, resumed_on=self.links.resumed_on(pairing.id),
            last_cosigned_activity_on=max(activities, default=None),
            last_confirmed_delivery_on=max(delivered, default=None),
            last_confirmed_fulfilment_on=max(fulfilled, default=None),
            first_public_commitment_on=min(publicised, default=None),
            overdue_commitments=tuple(sorted(overdue, key=lambda c: (c[1], str(c[0])))),
        )

    def sync_pairing(self, step: Step, pairing_id: UUID, arm_check: bool = True) -> None:
        """Flags, follow-up cases and timers of a pairing made to match the rules today.

        ``arm_check=False`` when the check timer itself is firing: it is re-armed after it
        has recorded its firing."""
        pairing = step.get(Pairing, pairing_id)
        if pairing is None:
            return
        rules, today = self.rules(), step.today
        facts = self.pairing_facts(step, pairing)
        hits = inactivity_hits(facts, rules, today)
        for rule in [r for r in PAIRING_RULES if r in pairing.flags and r not in hits]:
            case_id = self.pairing_case_id(pairing, rule)
            pairing.clear_inactivity(step.by, rule)
            if facts.in_force:
                self.close_case(step, case_id, "resolved", f"{labels.RULES[rule]}已消除：结对恢复活动")
            else:
                self.close_case(step, case_id, "dismissed",
                                f"结对关系已{_ENDED.get(pairing.state, '不在履行期')}")
            step.effects.append(f"{rule} cleared")
        for rule, hit in hits.items():
            if rule not in pairing.flags:
                pairing.flag_inactivity(step.by, rule, hit.measured, hit.severity)
                step.add(FollowUpCase.open(
                    step.by, self.pairing_case_id(pairing, rule), "pairing", pairing.id, rule,
                    hit.responsible_id, hit.measured, hit.severity))
                step.effects.append(f"{rule} flagged")
            else:
                case = step.get(FollowUpCase, self.pairing_case_id(pairing, rule))
                if case is not None and case.is_live and _worse(hit.severity, case.severity):
                    case.update(step.by, hit.severity, hit.measured)
                    step.effects.append(f"{rule} {hit.severity}")
        if arm_check:
            self.arm(step, "pairing", pairing.id, "check", next_inactivity_check(facts, rules, today))
        live = pairing.state in ("in_force", "suspended")
        self.arm(step, "pairing", pairing.id, "term-end",
                 pairing.term_end + timedelta(days=1) if live else None,
                 {"term_end": pairing.term_end.isoformat()})

    @staticmethod
    def pairing_case_id(pairing: Pairing, rule: str) -> UUID:
        return FollowUpCase.create_id(pairing.id, rule, pairing.flags[rule]["since"].isoformat())

    def close_case(self, step: Step, case_id: UUID, resolution: str, reason: str) -> None:
        case = step.get(FollowUpCase, case_id)
        if case is not None and case.is_live:
            case.close(step.by, resolution, reason)

    # -- firing a timer ------------------------------------------------------------------------

    def fire(self, timer_id: UUID) -> str | None:
        """Fire the timer if it is due: its effect and the TimerFired event in one transaction.

        Returns the effect, or None when the timer is not (or no longer) due.
        """
        step = self.step()
        timer = step.get(Timer, timer_id)
        if timer is None or not timer.is_due(step.by.occurred_at):
            return None
        self.firings[timer.subject_type, timer.purpose](step, timer)
        effect = "; ".join(step.effects) or "no effect"
        timer.fire(step.by, effect)
        # the firing may have re-armed its own timer (the next inactivity check)
        self._rearm_after_fire(step, timer)
        step.commit()
        return effect

    def _rearm_after_fire(self, step: Step, timer: Timer) -> None:
        if timer.subject_type == "pairing" and timer.purpose == "check":
            pairing = step.get(Pairing, timer.subject_id)
            if pairing is not None:
                facts = self.pairing_facts(step, pairing)
                self.arm(step, "pairing", pairing.id, "check",
                         next_inactivity_check(facts, self.rules(), step.today))

    def _fire_commitment_due(self, step: Step, timer: Timer) -> None:
        c = step.get(PublicCommitment, timer.subject_id)
        if c is not None and c.state == "public" and step.today > c.due_on:
            c.mark_overdue(step.by, step.today)
            step.effects.append("marked overdue")

    def _fire_commitment_reminder(self, step: Step, timer: Timer) -> None:
        c = step.get(PublicCommitment, timer.subject_id)
        if c is not None and c.state == "public":
            step.effects.append("reminded")

    def _fire_task_claim_window(self, step: Step, timer: Timer) -> None:
        t = step.get(ServiceTask, timer.subject_id)
        if t is not None and t.state == "open":
            t.pool(step.by, step.today, timer.details["window_days"])
            step.effects.append("pooled")

    def _fire_task_confirmation(self, step: Step, timer: Timer) -> None:
        t = step.get(ServiceTask, timer.subject_id)
        if (t is None or t.state != "delivered" or t.confirmation_overdue
                or t.deliveries != timer.details["delivery"]):
            return
        window = timer.details["window_days"]
        t.flag_confirmation_overdue(step.by, step.today, window)
        assert t.delivery_reported_at is not None
        step.add(FollowUpCase.open(
            step.by, FollowUpCase.create_id(t.id, "R9", f"delivery-{t.deliveries}"), "task", t.id,
            "R9", t.receiver_id, {
                "reported_on": local_date(t.delivery_reported_at).isoformat(),
                "days_unconfirmed": (step.today - local_date(t.delivery_reported_at)).days,
                "threshold_days": window, "rule_set_version": self.rules().version,
            }))
        step.effects.append("confirmation overdue")

    def _fire_task_reminder(self, step: Step, timer: Timer) -> None:
        t = step.get(ServiceTask, timer.subject_id)
        if t is not None and t.state == "planned":
            step.effects.append("reminded")

    def _fire_evaluation_publicity(self, step: Step, timer: Timer) -> None:
        evaluation = step.get(EvaluationRound, timer.subject_id)
        if (evaluation is not None and evaluation.state == "publicised"
                and evaluation.publicity is not None
                and step.today > evaluation.publicity["until"]):
            evaluation.end_publicity(step.by, step.today)
            step.effects.append("publicity ended")

    def _fire_pairing_check(self, step: Step, timer: Timer) -> None:
        self.sync_pairing(step, timer.subject_id, arm_check=False)

    def _fire_pairing_term_end(self, step: Step, timer: Timer) -> None:
        pairing = step.get(Pairing, timer.subject_id)
        if (pairing is not None and pairing.state in ("in_force", "suspended")
                and step.today > pairing.term_end):
            pairing.end_term(step.by, step.today)
            step.effects.append("term ended")


# "结对关系已暂停": the states a pairing leaves its term in, by their names.
_ENDED = {s: labels.PAIRING_STATES[s] for s in ("suspended", "terminated", "expired")}


def _worse(new: str, old: str) -> bool:
    # SEVERITIES runs from the mildest to the gravest.
    return SEVERITIES.index(new) > SEVERITIES.index(old)

