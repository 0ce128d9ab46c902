"""One catalogue of Chinese labels (``domain.labels``): every code the domain can produce has
a name there, no name outlives its code, and no other module keeps a copy."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from datetime import date
from pathlib import Path

from eventsourcing.domain import Aggregate
import pytest
from hypothesis import given
from hypothesis import strategies as st

import domain
from domain import (
    commitment, evaluation, evidence, followup, item_states, labels, organisation, pairing, pairing_rules,
    scoring, task, user,
)
from domain.base import ROLES, CobuildAggregate
from domain.item_states import Step
from domain.pairing_rules import RuleHit

REPO = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")


def aggregates() -> list[type[CobuildAggregate]]:
    for info in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{info.name}")
    found, todo = [], list(CobuildAggregate.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def event_types() -> set[str]:
    return {name for cls in aggregates() for name, value in vars(cls).items()
            if isinstance(value, type) and issubclass(value, Aggregate.Event)
            and name not in ("Event", "Created")}


def test_every_event_a_history_shows_has_a_chinese_name():
    types = event_types()
    assert "PairingProposed" in types and labels.EVENT_TYPES["PairingProposed"] == "发起结对"
    missing = sorted(types - set(labels.EVENT_TYPES))
    assert not missing, f"name these events in domain/labels.py EVENT_TYPES: {missing}"


# The states each aggregate (or each pure state function) assigns, and the catalogue naming them.
STATE_CATALOGUES = {
    "Pairing": labels.PAIRING_STATES, "PairingSlot": labels.PAIRING_SLOT_STATES,
    "PublicCommitment": labels.COMMITMENT_STATES, "ServiceTask": labels.TASK_STATES,
    "FollowUpCase": labels.FOLLOWUP_STATES, "EvaluationRound": labels.EVALUATION_STATES,
    "Organisation": labels.ORGANISATION_STATES, "Region": labels.REGION_STATES, "User": labels.USER_STATES,
    "AccessToken": labels.TOKEN_STATES, "LoginName": labels.LOGIN_NAME_STATES,
    "RuleSet": labels.RULE_SET_STATES,
    "Timer": labels.TIMER_STATES, "commitment_state": labels.COMMITMENT_STATES,
    "task_state": labels.TASK_STATES, "lifecycle_state": labels.PAIRING_STATES,
}


def assigned_states() -> dict[str, set[str]]:
    """Every string literal assigned to a ``.state`` (or a local ``state``), by the class or
    function it is assigned in, read from the domain's source."""
    out: dict[str, set[str]] = {}
    for path in sorted((REPO / "domain").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for owner in tree.body:
            if not isinstance(owner, (ast.ClassDef, ast.FunctionDef)):
                continue
            for node in ast.walk(owner):
                if not isinstance(node, ast.Assign):
                    continue
                for target in node.targets:
                    targets = target.elts if isinstance(target, ast.Tuple) else [target]
                    values = (node.value.elts if isinstance(node.value, ast.Tuple)
                              and isinstance(target, ast.Tuple) else [node.value])
                    for t, v in zip(targets, values):
                        named = (isinstance(t, ast.Attribute) and t.attr == "state") or (
                            isinstance(t, ast.Name) and t.id == "state")
                        if named and isinstance(v, ast.Constant) and isinstance(v.value, str):
                            out.setdefault(owner.name, set()).add(v.value)
    return out


def test_every_state_the_domain_assigns_has_a_label():
    found = assigned_states()
    assert found["Pairing"] >= {"proposed", "in_force", "expired"}
    assert found["task_state"] >= {"pooled", "planned"}
    unnamed = {owner: sorted(states - set(STATE_CATALOGUES[owner]))
               for owner, states in found.items() if owner in STATE_CATALOGUES}
    assert not any(unnamed.values()), unnamed
    assert set(found) - {"CobuildAggregate"} <= set(STATE_CATALOGUES), \
        f"a new owner of states: add it here and its labels: {set(found) - set(STATE_CATALOGUES)}"


def test_every_code_list_of_the_domain_is_named_exactly():
    """The codes stay with the aggregates that check them; the catalogue names each of them
    and nothing else."""
    for codes, catalogue in (
        (pairing_rules.STATUSES, labels.PAIRING_STATUSES),
        (pairing.LIVE_STATES + pairing.FINAL_STATES, labels.PAIRING_STATES),
        (pairing.AREAS, labels.AREAS), (pairing.ACTIVITY_KINDS, labels.ACTIVITY_KINDS),
        (pairing.SIDES, labels.SIDES), (pairing_rules.RULE_IDS, labels.RULES),
        (pairing_rules.SEVERITIES, labels.SEVERITIES),
        (commitment.STATES, labels.COMMITMENT_STATES),
        (commitment.CATEGORIES, labels.COMMITMENT_CATEGORIES),
        (commitment.OUTCOMES, labels.OUTCOMES),
        (task.STATES, labels.TASK_STATES), (task.CATEGORIES, labels.TASK_CATEGORIES),
        (task.LEVELS + ("unknown",), labels.SATISFACTION_LEVELS),
        (evaluation.SATISFACTION_LEVELS, labels.SATISFACTION_LEVELS),
        (evaluation.STATES, labels.EVALUATION_STATES), (evaluation.FIVE_GOOD, labels.FIVE_GOOD),
        (evaluation.RESOLUTIONS, labels.OBJECTION_RESOLUTIONS),
        (scoring.DIMENSIONS, labels.DIMENSIONS),
        (followup.STATES, labels.FOLLOWUP_STATES), (followup.REASONS, labels.FOLLOWUP_REASONS),
        (followup.RESOLUTIONS, labels.FOLLOWUP_RESOLUTIONS),
        (followup.SUBJECT_TYPES, labels.SUBJECT_TYPES),
        (organisation.KINDS, labels.ORGANISATION_KINDS), (ROLES, labels.ROLES),
        (user.REGION_ROLES + user.ORGANISATION_ROLES, labels.ROLES),
        (evidence.MEDIA_TYPES, labels.MEDIA_TYPES),
    ):
        assert set(codes) == set(catalogue), (codes, catalogue)
    assert list(scoring.DIMENSIONS) == list(labels.DIMENSIONS)  # the order files show


def test_r9_reads_one_way_everywhere():
    assert labels.RULES["R9"] == labels.FOLLOWUP_REASONS["R9"] == "交付逾期未确认"


@given(st.sampled_from(sorted(labels.PAIRING_STATES)),
       st.lists(st.sampled_from(pairing_rules.RULE_IDS), unique=True))
def test_every_status_the_board_derives_has_a_label(state, rules):
    hits = [RuleHit(rule, "warning") for rule in rules]
    assert pairing_rules.derived_status(state, hits) in labels.PAIRING_STATUSES


@given(st.lists(st.sampled_from(["publicised", "progress", "extended", "overdue", "claimed",
                                 "disputed", "confirmed", "abandoned", "evaluated"]), max_size=8),
       st.integers(min_value=0, max_value=400))
def test_every_commitment_state_a_report_shows_has_a_label(kinds, days):
    steps = [Step(k, date(2025, 1, 1), "2025-06-30" if k == "extended" else None) for k in kinds]
    c = item_states.commitment_state(date(2025, 3, 1), steps)
    assert c.shown_state(date.fromordinal(date(2025, 1, 1).toordinal() + days)) \
        in labels.COMMITMENT_STATES


@given(st.lists(st.sampled_from(["claimed", "withdrawn", "pooled", "planned", "delivered",
                                 "confirmed", "rejected", "confirmation_overdue", "rated",
                                 "closed", "cancelled"]), max_size=8))
def test_every_task_state_a_report_shows_has_a_label(kinds):
    steps = [Step(k, date(2025, 1, 1), "2025-06-30" if k == "planned" else None, "g")
             for k in kinds]
    assert item_states.task_state(steps).state in labels.TASK_STATES


def test_no_module_keeps_its_own_copy_of_labels():
    """A dict from codes to Chinese names anywhere but domain/labels.py is a second copy."""
    copies = []
    for package in ("domain", "workflows", "projections", "api"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name == "labels.py" and path.parent.name == "domain":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Dict) and len(node.keys) >= 2
                        and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                and re.fullmatch(r"[A-Za-z0-9_]+", k.value) for k in node.keys)
                        and all(isinstance(v, ast.Constant) and isinstance(v.value, str)
                                and CJK.search(v.value) for v in node.values)):
                    copies.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not copies, copies


@pytest.mark.parametrize("version, words", [
    (0, "默认规则"), ("0", "默认规则"), ("default", "默认规则"), (None, "默认规则"),
    (1, "规则集第 1 版"), ("12", "规则集第 12 版")])
def test_the_rule_set_a_page_went_by_reads_in_words(version, words):
    """No page, sheet or CLI line says 「规则集版本 0」 or 「default」."""
    assert labels.rule_set_words(version) == words
