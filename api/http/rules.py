"""/rules: the rule set — thresholds and weights as versioned data (DESIGN §3.7).

Anyone signed in reads the current version; the admin publishes the next one with a JSON
body that has the keys of the TOML file (``cobuild rules publish``), any subset of them:
what is left out keeps its current value.  ``ETag`` is the rule set version, and a publish
sent with ``If-Match`` of another version gets 412, so two admins cannot overwrite each
other unknowingly."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import API_PREFIX, actor, engine, etag, expected_version
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Body
from domain.ruleset import CHECKS, DEFAULTS, Rules

blp = Blueprint("rules", __name__, url_prefix="/api/v1/rules",
                description="The rule set (规则集): thresholds and weights, versioned")


def _field(key: str, default: Any) -> ma.fields.Field:
    """A rule's field, shaped like its default; the domain checks the range."""
    if isinstance(default, bool) or not isinstance(default, int):
        return ma.fields.String(metadata={"example": default})
    return ma.fields.Integer(strict=True, metadata={"example": default})


def _table(name: str, values: dict[str, Any]) -> type[ma.Schema]:
    return Body.from_dict({k: _field(f"{name}.{k}", v) for k, v in values.items()},
                          name=f"Rules{name.title()}")


def _publish_schema() -> type[ma.Schema]:
    fields: dict[str, ma.fields.Field] = {}
    for key, default in DEFAULTS.items():
        if isinstance(default, dict):
            fields[key] = ma.fields.Nested(_table(key, default))
        else:
            fields[key] = _field(key, default)
    return Body.from_dict(fields, name="PublishRules")


PublishRules = _publish_schema()
assert {f"{k}.{s}" if isinstance(v, dict) else k
        for k, v in DEFAULTS.items() for s in (v if isinstance(v, dict) else [None])} == set(CHECKS)


class RuleSetSchema(ma.Schema):
    version = ma.fields.Integer(required=True, metadata={"description": "0: the built-in defaults"})
    values = ma.fields.Dict(required=True, metadata={
        "description": "every rule, with the keys of the TOML file"})


def rules_body(rules: Rules) -> dict[str, Any]:
    values = {key: rules[key] for key in DEFAULTS}
    return {"version": rules.version, "values": values}


@blp.route("", methods=["GET"])
@blp.response(200, RuleSetSchema, headers=ETAG_HEADER)
def read_rules():
    """The current rule set and its version (any signed-in user)."""
    rules = engine().current_rules()
    return rules_body(rules), 200, etag(rules.version)


@command(blp, "", PublishRules, "Publish the next rule set version (admin): the keys given "
         "replace the current values; a wrong key or value is named and nothing changes",
         status=201, answer=RuleSetSchema, versioned=True)
def publish_rules(body):
    outcome = engine().publish_rules(actor(), body, expected_version=expected_version())
    rules = engine().rules_version(outcome.details["version"])
    return rules_body(rules), 201, {**etag(rules.version), "Location": f"{API_PREFIX}/rules"}
