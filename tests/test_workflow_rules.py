"""Rule sets as versioned events; `cobuild rules show|publish`."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from api.cli.workflows import rules
from domain.errors import InvalidValue
from domain.ruleset import DEFAULTS, merged_values
from workflows.errors import Forbidden


def test_defaults_until_a_version_is_published(engine, cast):
    assert engine.current_rules().version == 0
    assert engine.current_rules()["r9_confirmation_days"] == 15
    out = engine.publish_rules(cast.admin, {"r9_confirmation_days": 10, "grades": {"fair": 55}})
    assert out.details["version"] == 1
    current = engine.current_rules()
    assert (current.version, current["r9_confirmation_days"], current["grades.fair"]) == (1, 10, 55)
    assert current["r2_inactive_days"] == 90          # kept from the version before
    engine.publish_rules(cast.admin, {"r2_inactive_days": 60})
    assert engine.current_rules()["r9_confirmation_days"] == 10
    assert engine.rules_version(1)["r2_inactive_days"] == 90   # an old version reads as it was


@pytest.mark.parametrize("changes, key", [
    ({"r2_inactive_dayz": 60}, "r2_inactive_dayz"),
    ({"r2_inactive_days": "90"}, "r2_inactive_days"),
    ({"r2_inactive_days": 0}, "r2_inactive_days"),
    ({"r2_red_days": 80}, "r2_red_days"),
    ({"weights": {"teamwork": 20}}, "weights"),
    ({"weights": {"luck": 5}}, "weights.luck"),
    ({"r3_warn_from": "13-01"}, "r3_warn_from"),
    ({"grades": {"good": 95}}, "grades"),
    ({"claim_window_days": True}, "claim_window_days"),
    ({"publicity_days": {"x": 1}}, "publicity_days"),
])
def test_a_bad_value_names_its_key_and_changes_nothing(engine, cast, changes, key):
    with pytest.raises(InvalidValue) as refused:
        engine.publish_rules(cast.admin, changes)
    assert refused.value.field == key
    assert engine.current_rules().version == 0


def test_only_admins_publish(engine, cast):
    with pytest.raises(Forbidden):
        engine.publish_rules(cast.supervisor, {"r2_inactive_days": 60})


def test_merging_never_touches_the_defaults():
    merged_values({"satisfaction": {"satisfied": 95}})
    assert DEFAULTS["satisfaction"]["satisfied"] == 100


def test_cli_show_and_publish(settings, tmp_path, monkeypatch):
    for name, value in settings.environ().items():  # the same store, SQLite or PostgreSQL
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    shown = runner.invoke(rules, ["show"])
    assert shown.exit_code == 0, shown.output
    assert "内置默认值" in shown.output and "r2_inactive_days = 90" in shown.output

    bad = tmp_path / "bad.toml"
    bad.write_text('r2_inactive_days = 60\n[weights]\nteamwork = "lots"\n', encoding="utf-8")
    refused = runner.invoke(rules, ["publish", str(bad)])
    assert refused.exit_code == 1
    assert "weights.teamwork" in refused.output and "nothing was published" in refused.output
    broken = tmp_path / "broken.toml"
    broken.write_text("r2_inactive_days = \n", encoding="utf-8")
    assert "not valid TOML" in runner.invoke(rules, ["publish", str(broken)]).output
    assert "内置默认值" in runner.invoke(rules, ["show"]).output

    good = tmp_path / "good.toml"
    good.write_text("r2_inactive_days = 60\nr2_red_days = 120\n", encoding="utf-8")
    published = runner.invoke(rules, ["publish", str(good), "--note", "试行"])
    assert published.exit_code == 0, published.output
    assert "version 1" in published.output
    shown = runner.invoke(rules, ["show"]).output
    assert "version 1" in shown and "r2_red_days = 120" in shown
    assert "r2_inactive_days = 90" in runner.invoke(rules, ["show", "--version", "0"]).output


def test_the_worker_counts_r2_from_a_resumption_like_the_reports(engine, cast, clock, settings):
    """R2 counts from the latest of co-signed activity, confirmed outcome, coming into force
    and resumption: a pairing resumed after a long suspension gets its full 90 days."""
    from domain.pairing import Pairing
    from tests.workflow_support import cosigned_activity
    from workflows.scheduler import Worker, open_worker_state

    worker = Worker(engine, open_worker_state(settings))
    pairing_id = cast.pairing_in_force()
    cosigned_activity(engine, cast.agency, cast.villager, pairing_id, "结对见面会")
    engine.suspend_pairing(cast.supervisor, pairing_id, "村两委换届")
    worker.drain()
    clock.advance(days=100)
    engine.resume_pairing(cast.supervisor, pairing_id)
    assert worker.drain().effects == {}
    clock.advance(days=89)
    assert worker.drain().effects == {}
    clock.advance(days=1)
    assert worker.drain().effects == {"R2 flagged": 1}
    flag = engine.load(Pairing, pairing_id).flags["R2"]["measured"]
    assert (flag["last_active_on"], flag["days_without_activity"]) == ("2025-06-09", 90)
