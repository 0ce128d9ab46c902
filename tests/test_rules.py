"""The rules of docs/domain.md (rules R1–R9) at their exact boundaries."""
from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from domain.ruleset import merged_values
from domain.pairing_rules import (
    DEFAULT_RULES, PUBLISHED, Lifecycle, PairingFacts, Thresholds, derived_status, lifecycle_state,
    next_change, rule_hits,
)

SIGNED = date(2025, 1, 10)


def hits(facts: PairingFacts, as_of: date, rules: Thresholds = DEFAULT_RULES) -> dict[str, str]:
    return {h.rule: h.severity for h in rule_hits(facts, as_of, rules)}


def in_force(**kw) -> PairingFacts:
    return PairingFacts(state="in_force", in_force_on=SIGNED, **kw)


@pytest.mark.parametrize("days, expected", [(89, None), (90, "warning"), (91, "warning"),
                                            (179, "warning"), (180, "red")])
def test_r2_paired_but_inactive_counts_calendar_days_since_the_last_cosigned_activity(days, expected):
    last = date(2025, 3, 1)
    facts = in_force(last_activity_on=last, first_public_commitment_on=SIGNED)
    assert hits(facts, last + timedelta(days=days)).get("R2") == expected


def test_r2_a_confirmed_delivery_or_fulfilment_resets_the_clock():
    facts = in_force(last_activity_on=date(2025, 2, 1), last_confirmed_outcome_on=date(2025, 5, 1))
    assert "R2" not in hits(facts, date(2025, 5, 1) + timedelta(days=89))
    assert "R2" in hits(facts, date(2025, 5, 1) + timedelta(days=90))


def test_r2_counts_from_resumption_after_a_suspension():
    facts = in_force(last_activity_on=date(2025, 2, 1), resumed_on=date(2025, 6, 1))
    assert "R2" not in hits(facts, date(2025, 6, 1) + timedelta(days=89))


@pytest.mark.parametrize("days, expected", [(59, None), (60, "warning"), (119, "warning"),
                                            (120, "red")])
def test_r1_stuck_at_signing(days, expected):
    assert hits(in_force(), SIGNED + timedelta(days=days)).get("R1") == expected


def test_r1_clears_with_a_cosigned_activity_or_a_publicised_commitment():
    day = SIGNED + timedelta(days=70)
    assert "R1" not in hits(in_force(last_activity_on=SIGNED + timedelta(days=65)), day)
    assert "R1" not in hits(in_force(first_public_commitment_on=SIGNED + timedelta(days=3)), day)


@pytest.mark.parametrize("overdue_days, hit", [(30, False), (31, True)])
def test_r5_slow_is_more_than_thirty_days_overdue(overdue_days, hit):
    due = date(2025, 4, 1)
    facts = in_force(last_activity_on=due, overdue_since=(due,))
    assert ("R5" in hits(facts, due + timedelta(days=overdue_days))) is hit
    assert derived_status("in_force", rule_hits(facts, due + timedelta(days=31))) == "slow"


@pytest.mark.parametrize("days, hit", [(14, False), (15, True)])
def test_r9_delivery_unconfirmed_for_fifteen_days(days, hit):
    delivered = date(2025, 4, 1)
    facts = in_force(last_activity_on=delivered, unconfirmed_deliveries=(delivered,))
    assert ("R9" in hits(facts, delivered + timedelta(days=days))) is hit


def test_r3_r4_warn_from_the_first_of_october_and_are_red_on_the_last_day_of_the_year():
    facts = in_force(last_activity_on=date(2025, 9, 20))
    assert not {"R3", "R4"} & set(hits(facts, date(2025, 9, 30)))
    assert hits(facts, date(2025, 10, 1))["R3"] == "warning"
    assert hits(facts, date(2025, 12, 31))["R4"] == "red"
    done = in_force(last_activity_on=date(2025, 9, 20), joint_org_life_in_year=1,
                    practical_matters_in_year=1)
    assert not {"R3", "R4"} & set(hits(done, date(2025, 12, 31)))
    late = PairingFacts(state="in_force", in_force_on=date(2025, 11, 1))
    assert not {"R3", "R4"} & set(hits(late, date(2025, 12, 31)))


def test_r6_one_way_help_is_information_after_a_year_without_receiver_initiative():
    facts = in_force(last_activity_on=date(2026, 1, 5), last_receiver_initiative_on=None)
    assert hits(facts, SIGNED + timedelta(days=364)).get("R6") is None
    assert hits(facts, SIGNED + timedelta(days=365))["R6"] == "info"
    hosted = in_force(last_activity_on=date(2026, 1, 5), last_receiver_initiative_on=date(2025, 6, 1))
    assert "R6" not in hits(hosted, date(2026, 5, 31))
    assert "R6" in hits(hosted, date(2026, 6, 1))


def test_term_end_makes_a_pairing_expired_and_silences_its_rules():
    life = Lifecycle(term_end=date(2025, 12, 31), accepted=True, signatures=2, in_force_on=SIGNED)
    assert lifecycle_state(life, date(2025, 12, 31)) == "in_force"
    assert lifecycle_state(life, date(2026, 1, 1)) == "expired"
    expired = PairingFacts(state="expired", in_force_on=SIGNED)
    assert hits(expired, date(2026, 6, 1)) == {}
    assert derived_status("expired", []) == "expired"


def test_suspended_pairings_have_no_rule_hits_and_a_later_resumption_wins():
    life = Lifecycle(term_end=date(2027, 1, 1), accepted=True, signatures=2, in_force_on=SIGNED,
                     suspended_seq=10)
    assert lifecycle_state(life, date(2025, 6, 1)) == "suspended"
    assert hits(PairingFacts(state="suspended", in_force_on=SIGNED), date(2025, 12, 31)) == {}
    resumed = Lifecycle(term_end=date(2027, 1, 1), accepted=True, signatures=2,
                        in_force_on=SIGNED, suspended_seq=10, resumed_seq=12)
    assert lifecycle_state(resumed, date(2025, 6, 1)) == "in_force"


def test_a_published_rule_set_overrides_defaults_and_names_its_version():
    rules = Thresholds.from_values("2026-1", {"inactive_days": 60, "weak_income_yuan": "50000"})
    facts = in_force(last_activity_on=date(2025, 3, 1), first_public_commitment_on=SIGNED)
    hit = rule_hits(facts, date(2025, 4, 30), rules)
    assert [h.rule for h in hit] == ["R2"] and hit[0].measured["threshold_days"] == 60
    assert rules.is_weak(DEFAULT_RULES.weak_income_yuan) and rules.version == "2026-1"
    with pytest.raises(ValueError):
        Thresholds.from_values("bad", {"no_such_rule": 1})


def test_grades_and_satisfaction_conversion():
    assert [DEFAULT_RULES.grade(t) for t in (90, 89.99, 80, 60, 59.9)] == \
        ["优秀", "良好", "良好", "一般", "较差"]
    assert DEFAULT_RULES.satisfaction_points("basically_satisfied") == 75
    assert DEFAULT_RULES.satisfaction_points("unknown") is None


def test_the_rule_set_the_workflow_publishes_reads_as_the_reports_rule_set():
    from domain.ruleset import DEFAULT_RULES as PUBLISHED, Rules, merged_values

    assert dataclasses.replace(Thresholds.from_published(PUBLISHED), version="default") == DEFAULT_RULES
    stricter = Rules(3, merged_values({"r2_inactive_days": 60, "r3_warn_from": "09-15",
                                       "weak_village_income_yuan": 50000}))
    rules = Thresholds.from_published(stricter)
    assert (rules.version, rules.inactive_days, rules.warn_date("R3", 2025), rules.weak_income_yuan) == \
        ("3", 60, date(2025, 9, 15), 50000)


def test_every_threshold_the_reports_use_is_read_from_the_published_rules():
    """Change any published key (but the workflow's own reminder lead time) and the reports'
    rule set changes: there is no second copy of a number to drift."""
    from domain.ruleset import CHECKS, DEFAULTS, Rules, _flatten, _nest

    assert set(PUBLISHED) == {f.name for f in dataclasses.fields(Thresholds)} - {"version"}
    base = Thresholds.from_published(Rules(1, DEFAULTS))
    for key in sorted(set(CHECKS) - {"reminder_days_before"}):
        flat = _flatten(DEFAULTS)
        flat[key] = "09-15" if key.endswith("_warn_from") else flat[key] + 1
        changed = Thresholds.from_published(Rules(1, _nest(flat)))
        assert changed != base, key


def test_a_version_published_before_a_key_existed_reads_its_default():
    from domain.ruleset import Rules

    old = Rules(1, {k: v for k, v in merged_values({}).items() if k not in ("r1_red_days", "targets")})
    assert old["r1_red_days"] == 120 and old["targets.joint_org_life"] == 2
    assert merged_values({"r2_inactive_days": 60}, old.values)["r1_red_days"] == 120


def test_the_next_change_is_where_r1_r2_or_r5_next_starts_or_turns_red():
    quiet = in_force()
    assert next_change(quiet, SIGNED, DEFAULT_RULES) == SIGNED + timedelta(days=60)
    assert next_change(quiet, SIGNED + timedelta(days=60), DEFAULT_RULES) == SIGNED + timedelta(days=90)
    active = in_force(last_activity_on=date(2025, 3, 1), overdue_since=(date(2025, 3, 10),))
    assert next_change(active, date(2025, 3, 11), DEFAULT_RULES) == date(2025, 4, 10)
    assert next_change(active, date(2025, 4, 10), DEFAULT_RULES) == date(2025, 5, 30)
    assert next_change(PairingFacts(state="suspended", in_force_on=SIGNED), SIGNED,
                       DEFAULT_RULES) is None
