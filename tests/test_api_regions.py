"""/regions over HTTP: an admin names divisions in its region, a regional role lists them,
and the organisation search names each organisation's township."""
from __future__ import annotations

import pytest

from tests.api_support import JsonClient, rebind
from tests.support import COUNTY

V = "/api/v1"


@pytest.fixture
def world(templates, app, tmp_path):
    engine, settings, cast, _ = templates.open("none", tmp_path / "var")
    rebind(app, engine, settings)
    yield engine, cast
    engine.close()


@pytest.fixture
def http(app):
    return JsonClient(app.test_client())


def test_an_admin_names_a_township_once_and_the_same_name_again_records_nothing(world, http):
    engine, cast = world
    admin = cast.tokens["admin"]
    first = http.post(f"{V}/regions", admin, {"code": f"{COUNTY}101", "name": "大柘镇"})
    assert first.status == 201, first.content
    assert first.json["created"] and first.json["changed"]
    before = engine.recorder.max_notification_id()
    again = http.post(f"{V}/regions", admin, {"code": f"{COUNTY}101000", "name": "大柘镇"})
    assert again.status == 200 and again.json["changed"] is False
    assert again.json["id"] == first.json["id"]
    assert engine.recorder.max_notification_id() == before  # the 12-digit form, same division
    renamed = http.post(f"{V}/regions", admin, {"code": f"{COUNTY}101", "name": "大柘镇人民政府驻地"})
    assert renamed.status == 200 and renamed.json["changed"] and renamed.json["version"] == 2

    listed = http.get(f"{V}/regions?parent={COUNTY}&level=township", cast.tokens["evaluator"])
    assert listed.status == 200
    assert listed.json["items"] == [{"code": f"{COUNTY}101", "name": "大柘镇人民政府驻地",
                                     "level": "township", "level_label": "乡镇（街道）"}]


def test_a_division_outside_the_admins_region_is_refused(world, http):
    engine, cast = world
    county_admin = engine.register_user(cast.actors["admin"], "县委组织部", "admin", None, COUNTY)[1]
    before = engine.recorder.max_notification_id()
    answer = http.post(f"{V}/regions", county_admin, {"code": "330100", "name": "杭州市辖区"})
    assert answer.status == 403 and answer.content_type == "application/problem+json"
    assert engine.recorder.max_notification_id() == before
    # ... and its own county is its to name
    assert http.post(f"{V}/regions", county_admin, {"code": COUNTY, "name": "遂昌县"}).status == 201
    # nor may a supervisor name one, even in its own township
    refused = http.post(f"{V}/regions", cast.tokens["supervisor"], {"code": f"{COUNTY}101", "name": "大柘镇"})
    assert refused.status == 403


@pytest.mark.parametrize("body,field", [
    ({"code": "33112", "name": "大柘镇"}, "code"),
    ({"code": "３３１１２３", "name": "遂昌县"}, "code"),
    ({"code": "331123101", "name": "Dazhe"}, "name"),
    ({"code": "331123101", "name": "   "}, "name"),
    ({"code": "331123101", "name": "镇" * 51}, "name"),
    ({"code": "331123101"}, "name"),
])
def test_a_bad_code_or_name_is_a_problem_naming_the_field(world, http, body, field):
    engine, cast = world
    before = engine.recorder.max_notification_id()
    answer = http.post(f"{V}/regions", cast.tokens["admin"], body)
    assert answer.status == 422, answer.content
    assert answer.content_type == "application/problem+json"
    assert field in answer.json["errors"], answer.json
    assert engine.recorder.max_notification_id() == before


def test_the_organisation_search_names_each_organisations_township(world, http):
    engine, cast = world
    admin = cast.tokens["admin"]
    found = http.get(f"{V}/organisations?q=石练", admin).json["items"]
    assert "region_name" not in found[0]  # nobody has named a division yet
    http.post(f"{V}/regions", admin, {"code": COUNTY, "name": "遂昌县"})
    http.post(f"{V}/regions", admin, {"code": f"{COUNTY}101", "name": "大柘镇"})
    items = {o["code"]: o for o in http.get(f"{V}/organisations", cast.tokens["agency"]).json["items"]}
    assert items["V1"]["region_name"] == "大柘镇"   # its township
    assert items["G1"]["region_name"] == "遂昌县"   # a county agency: no township, its county


def test_listing_divisions_is_for_regional_roles_in_their_region(world, http):
    engine, cast = world
    assert http.get(f"{V}/regions", cast.tokens["village"]).status == 403
    assert http.get(f"{V}/regions?parent=330100", cast.tokens["supervisor"]).status == 403
    assert http.get(f"{V}/regions?level=town", cast.tokens["admin"]).status == 422
