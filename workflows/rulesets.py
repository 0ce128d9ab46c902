"""Publishing and reading the rule set (thresholds and weights as versioned events)."""
from __future__ import annotations

import threading
import tomllib
from typing import Any, Mapping

from domain.base import Actor
from domain.errors import InvalidValue
from domain.ruleset import DEFAULT_RULES, RuleSet, Rules
from workflows.authorisation import require_role
from workflows.core import EngineCore, Outcome
from workflows.errors import StaleVersion


def parse_rules_toml(text: str) -> dict[str, Any]:
    """A rules file's keys, or :class:`InvalidValue` saying where the TOML is broken."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidValue("file", f"is not valid TOML: {error}") from None


class RuleCommands(EngineCore):
    _rules_lock = threading.Lock()

    def current_rules(self) -> Rules:
        """The latest published version (version 0, the defaults, before any is published).

        Versions are numbered 1, 2, ... with ids derived from the number, so the latest is
        found by looking one past the last version this process has seen.
        """
        with self._rules_lock:
            rules: Rules = getattr(self, "_rules_seen", DEFAULT_RULES)
            while self.exists(RuleSet.create_id(rules.version + 1)):
                rules = self.load(RuleSet, RuleSet.create_id(rules.version + 1)).rules
            self._rules_seen = rules
            return rules

    def rules_version(self, version: int) -> Rules:
        if version == 0:
            return DEFAULT_RULES
        return self.load(RuleSet, RuleSet.create_id(version)).rules

    def publish_rules(self, actor: Actor, changes: Mapping[str, Any],
                      note: str | None = None, expected_version: int | None = None) -> Outcome:
        """Publish the next version: ``changes`` merged over the current one, validated.
        ``expected_version`` is the rule set version the publisher last read."""
        require_role(actor, "admin-publishes-rules", "admin")
        by = self.attribution(actor)
        if not changes:
            raise InvalidValue("rules", "name at least one rule to change")
        current = self.current_rules()
        if expected_version is not None and expected_version != current.version:
            raise StaleVersion(expected_version, current.version)
        ruleset = RuleSet.publish(by, current, changes, note)
        return self.commit(ruleset, version=ruleset.number)

    def publish_rules_toml(self, actor: Actor, text: str, note: str | None = None) -> Outcome:
        return self.publish_rules(actor, parse_rules_toml(text), note)
