"""Publishing and reading the rule set (thresholds and weights as versioned events)."""
from __future__ import annotations

import tomllib
from typing import Any, Mapping

from domain.base import Actor
from domain.errors import InvalidValue
from domain.ruleset import RuleSet
from workflows.authorisation import require_role
from workflows.core import EngineCore, Outcome


def parse_rules_toml(text: str) -> dict[str, Any]:
    """A rules file's keys, or :class:`InvalidValue` saying where the TOML is broken."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidValue("file", f"is not valid TOML: {error}") from None


class RuleCommands(EngineCore):
    """Publishing; reading the rule set in force is the core's (``EngineCore.current_rules``),
    as every command and policy that applies a rule needs it."""

    def publish_rules(self, actor: Actor, changes: Mapping[str, Any],
                      note: str | None = None) -> Outcome:
        """Publish the next version: ``changes`` merged over the current one, validated."""
        require_role(actor, "admin-publishes-rules", "admin")
        by = self.attribution(actor)
        ruleset = RuleSet.publish(by, self.current_rules(), changes, note)
        return self.commit(ruleset, version=ruleset.number)

    def publish_rules_toml(self, actor: Actor, text: str, note: str | None = None) -> Outcome:
        return self.publish_rules(actor, parse_rules_toml(text), note)
