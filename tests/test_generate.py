"""``cobuild generate``: the plan is deterministic, the played year has the pairing-health mix,
everything is written through the engine (one Merkle leaf per event), and it refuses to
write twice or over other data."""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli.generate import generate
from domain.commitment import PublicCommitment
from domain.pairing import Pairing
from workflows.audit.verify import verify_store
from workflows.store.settings import Settings
from workflows.engine import open_engine
from workflows.generate import (
    HEALTH, WEAK_INCOME, Generation, GenerationError, Scale, plan_regions, plan_world, schedule,
)


def notifications(settings: Settings) -> list:
    engine = open_engine(settings)
    try:
        return list(engine.recorder.select_notifications(start=1, limit=10_000_000))
    finally:
        engine.close()


# -- the plan -----------------------------------------------------------------------------------

def test_the_same_seed_plans_the_same_world_and_days():
    scale = Scale.named("county", 0.25)
    first, again = plan_world(scale, 7), plan_world(scale, 7)
    assert first == again
    assert schedule(first) == schedule(again)
    other = plan_world(scale, 8)
    assert [o.name for o in other.villages] != [o.name for o in first.villages]
    assert other.giving[0].code == "S8-A000001" and first.giving[0].code == "S7-A000001"


def test_codes_are_12_digit_division_codes_under_zhejiang():
    world = plan_world(Scale.named("county", 1), 3)
    for org in world.giving + world.villages:
        assert len(org.region_code) == 12 and org.region_code.isdigit()
        assert org.region_code.startswith("33")
    for village in world.villages:
        town = village.region_code[:9]
        assert town in {t.code for t in world.townships}
        # 统计用区划代码: 居委会 001-199, 村委会 200-399
        assert (int(village.region_code[9:]) < 200) == (village.kind == "community")
    assert len({o.code for o in world.giving + world.villages}) == len(world.giving) + len(world.villages)


def test_province_scale_has_11_cities_and_90_counties():
    scale = Scale.named("province")
    assert (scale.giving, scale.villages, scale.pairings) == (27000, 14500, 30000)
    cities, counties, shares = plan_regions(scale, random.Random(1))
    assert len(cities) == 11 and len(counties) == 90
    assert len({c.code for c in counties}) == 90
    assert all(len(c.code) == 6 and c.code[:4] in {x.code for x in cities} for c in counties)
    assert sum(n for _, n in shares) == 14500


def test_a_third_of_the_villages_are_weak_and_every_village_is_paired():
    world = plan_world(Scale.named("county", 4), 5)
    weak = sum(v.income < WEAK_INCOME for v in world.villages) / len(world.villages)
    assert 0.27 < weak < 0.40
    assert {p.village for p in world.pairings} == set(range(len(world.villages)))
    pairs = [(p.giver, p.village) for p in world.pairings]
    assert len(pairs) == len(set(pairs)) == world.scale.pairings


def test_factor_scales_the_county_and_bad_scales_are_refused():
    assert Scale.named("county", 2).villages == 2 * Scale.named("county", 1).villages
    with pytest.raises(GenerationError):
        Scale.named("city")
    with pytest.raises(GenerationError):
        Scale.named("county", 0)


# -- a played year -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def played(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("generated") / "var")
    with Generation(settings, Scale.named("county", 0.25), 11) as run:
        report = run.play()
        yield run, report, settings


def test_every_event_is_in_the_merkle_log_and_the_store_verifies(played):
    run, report, settings = played
    events = run.engine.recorder.max_notification_id()
    assert report.events == events > 5000
    assert run.engine.recorder.audit.tree_size() == events
    result = verify_store(settings.event_store_path)
    assert result.ok and result.leaves == result.events == events


def test_every_event_is_attributed_to_the_generator_the_system_or_a_registered_user(played):
    run, _, settings = played
    users, actors, behalf = set(), Counter(), 0
    for n in notifications(settings):
        state = json.loads(n.state)
        if n.topic.endswith("User.UserRegistered"):
            users.add(str(n.originator_id))
        actor = state.get("actor")
        if actor is not None:
            actors[actor["user_id"]] += 1
            behalf += state.get("on_behalf_of") is not None
    assert set(actors) - users == {"generator", "system"}
    assert behalf > 0  # township clerks enter some villages' facts


def test_the_generated_divisions_are_named(played):
    from domain.region import Region

    run, _, _ = played
    for region in (*run.world.counties, *run.world.townships):
        assert run.engine.load(Region, Region.create_id(region.code)).name == region.name
    assert all(t.name.endswith(("镇", "乡", "街道")) for t in run.world.townships)


def test_the_year_has_every_kind_of_pairing_health(played):
    run, _, _ = played
    world, ids = run.world, run.playback.pairing_ids
    seen = Counter(p.health for p in world.pairings)
    assert all(seen[h] > 0 for h in HEALTH)
    pairings = {p.index: run.engine.load(Pairing, ids[p.index]) for p in world.pairings}

    def of(health):
        return [(p, pairings[p.index]) for p in world.pairings if p.health == health]

    for _, pairing in of("healthy"):
        assert pairing.state == "in_force" and not pairing.flags
        assert sum(a["status"] == "cosigned" for a in pairing.activities.values()) >= 5
    for _, pairing in of("inactive"):
        assert "R2" in pairing.flags
    for plan, pairing in of("one_way"):
        assert {a["recorded_by"] for a in pairing.activities.values()} == {"giver"}
        assert all(c.made_by == "giver" for c in plan.commitments) and not plan.tasks
    for _, pairing in of("stuck"):
        assert pairing.state == "accepted" or "R1" in pairing.flags
        assert not pairing.activities
    slow = of("slow")
    assert any("R5" in pairing.flags for _, pairing in slow)
    commitments = [run.engine.load(PublicCommitment, cid)
                   for (index, _), cid in run.playback.commitment_ids.items()
                   if world.pairings[index].health == "slow"]
    assert any(c.was_overdue for c in commitments)
    assert any(c.state == "overdue" for c in commitments)


def test_the_same_seed_writes_the_same_history(tmp_path):
    def history(folder: Path) -> list[tuple[str, int, str]]:
        settings = Settings(home=folder)
        with Generation(settings, Scale.named("county", 0.05), 2) as run:
            run.play()
        return [(n.topic, n.originator_version, json.loads(n.state).get("occurred_at"))
                for n in notifications(settings)]

    first, second = history(tmp_path / "a"), history(tmp_path / "b")
    assert first == second
    assert len(first) > 500


def test_two_processes_write_the_same_facts_and_a_sound_merkle_log(tmp_path):
    def facts(folder: Path, jobs: int) -> list[tuple[str, int, str]]:
        settings = Settings(home=folder)
        with Generation(settings, Scale.named("county", 0.1), 6) as run:
            report = run.play(jobs=jobs)
        result = verify_store(settings.event_store_path)
        assert result.ok and result.leaves == result.events == report.events
        return sorted((n.topic, n.originator_version, str(json.loads(n.state).get("occurred_at")))
                      for n in notifications(settings))

    assert facts(tmp_path / "one", 1) == facts(tmp_path / "two", 2)


def test_refuses_the_same_world_twice_and_other_data_without_force(tmp_path):
    settings = Settings(home=tmp_path / "var")
    small = Scale.named("county", 0.05)
    with Generation(settings, small, 1) as run:
        run.play()
    before = len(notifications(settings))
    for seed, force in ((1, False), (1, True), (2, False)):
        with pytest.raises(GenerationError):
            Generation(settings, small, seed, force)
    assert len(notifications(settings)) == before
    with Generation(settings, small, 2, force=True) as run:
        report = run.play()
    assert len(notifications(settings)) == before + report.events


# -- the command ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--scale", "city"], ["--scale", "county", "--factor", "0"],
    ["--scale", "county", "--factor", "lots"], ["--scale", "county", "--seed", "x"],
    ["--scale", "county", "--bogus"], [],
])
def test_bad_options_are_one_line_errors(args, tmp_path):
    result = CliRunner().invoke(generate, args, env={"COBUILD_HOME": str(tmp_path / "var")})
    assert result.exit_code == 2
    assert result.stderr.startswith("cobuild generate: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "var").exists()


def test_the_command_generates_then_refuses_in_one_line(tmp_path):
    runner, env = CliRunner(), {"COBUILD_HOME": str(tmp_path / "var")}
    args = ["--scale", "county", "--factor", "0.05", "--seed", "4"]
    result = runner.invoke(generate, args, env=env)
    assert result.exit_code == 0, result.output
    assert "结对" in result.stdout and "联而不动" in result.stdout
    again = runner.invoke(generate, args, env=env)
    assert again.exit_code == 1
    assert again.stderr.count("\n") == 1 and "already holds" in again.stderr
    same_world = runner.invoke(generate, args + ["--force"], env=env)
    assert same_world.exit_code == 1
    assert same_world.stderr.count("\n") == 1 and "already generated" in same_world.stderr
    other = runner.invoke(generate, args[:-1] + ["5"], env=env)
    assert other.exit_code == 1 and "--force" in other.stderr
    assert runner.invoke(generate, args[:-1] + ["5", "--force"], env=env).exit_code == 0
