"""Refusals of the engine that are not rules of the domain: who you are, what exists,
and races with other writers.  Domain refusals live in ``domain.errors``."""
from __future__ import annotations

from domain.errors import DomainError


class EngineError(DomainError):
    code = "engine"


class Unauthenticated(EngineError):
    code = "unauthenticated"


class Forbidden(EngineError):
    """Not your role, organisation or region.  ``rule`` names the rule that refused."""

    code = "forbidden"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, rule=rule)
        self.rule = rule


class NotFound(EngineError):
    code = "not-found"

    def __init__(self, subject: str, identifier: object) -> None:
        super().__init__(f"no {subject} with id {identifier}", subject=subject)


class ConcurrencyConflict(EngineError):
    """Another writer saved the same aggregate first; nothing of this command was written."""

    code = "conflict"


class StaleVersion(EngineError):
    """The caller's expected version (HTTP If-Match) is no longer current."""

    code = "stale-version"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected} but it is now {actual}",
                         expected=expected, actual=actual)
