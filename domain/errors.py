"""What the domain refuses, and why.

Every refusal has a stable ``code`` (used as the problem ``type`` over HTTP and as the
one-line message on the CLI) and a human message.  The HTTP status a refusal maps to is
decided at the edge, not here.
"""
from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain forbids the command.  Nothing was recorded."""

    code = "domain-rule"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class WrongState(DomainError):
    """The command is not allowed in the aggregate's current state."""

    code = "wrong-state"

    def __init__(self, subject: str, command: str, state: str) -> None:
        super().__init__(
            f"{subject} is {state}: cannot {command}",
            subject=subject, command=command, state=state,
        )
        self.command = command
        self.state = state


class NotPermitted(DomainError):
    """The actor may not do this (wrong side, own confirmation, wrong kind...)."""

    code = "not-permitted"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, rule=rule)
        self.rule = rule


class InvalidValue(DomainError):
    """A value breaks a rule of the domain (a date before what it confirms, a blank reason)."""

    code = "invalid-value"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)
        self.field = field


class Duplicate(DomainError):
    """The thing already exists (an organisation code, a pairing in force)."""

    code = "duplicate"
