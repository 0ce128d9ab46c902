"""What every cobuild aggregate and event shares: who did it, on whose behalf, and when.

The domain knows no clock: business time (``occurred_at``) is handed in by the caller in an
:class:`Attribution`, and the engine stamps the recorded time (``timestamp``) from its clock
when it saves the events (``workflows.core.EngineCore.save``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import InvalidValue, WrongState
from domain.labels import PROXY_ENTRY

ROLES = ("admin", "supervisor", "agency", "village", "evaluator")
SYSTEM_ROLE = "system"  # the workflow engine's own timers and policies


@dataclass(frozen=True)
class Actor:
    """A user acting in a role, for an organisation (agency, village) or a region."""

    user_id: str
    role: str
    organisation_id: UUID | None = None
    region_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "role": self.role,
            "organisation_id": str(self.organisation_id) if self.organisation_id else None,
        }


SYSTEM = Actor(user_id="system", role=SYSTEM_ROLE)


PROXY_LABEL = PROXY_ENTRY  # how a fact entered on another organisation's behalf is marked
MAX_REASON = 2000


@dataclass(frozen=True)
class Attribution:
    """Who did it, on whose behalf, and when it happened in the world.

    ``reason`` says why a proxy (an admin or supervisor naming ``on_behalf_of``) entered
    the fact for another organisation; it is mandatory then, and recorded with the actor.
    """

    actor: Actor
    occurred_at: datetime
    on_behalf_of: UUID | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise InvalidValue("occurred_at", "must carry a UTC offset")
        if self.by_proxy:
            reason = self.reason.strip() if isinstance(self.reason, str) else ""
            if not reason:
                raise InvalidValue("reason", f"entering a fact on behalf of another organisation "
                                             f"({PROXY_LABEL}) needs a reason")
            if len(reason) > MAX_REASON:
                raise InvalidValue("reason", f"must be at most {MAX_REASON} characters")
            object.__setattr__(self, "reason", reason)

    @property
    def by_proxy(self) -> bool:
        """Entered by someone for an organisation that is not their own (代录)."""
        return self.on_behalf_of is not None and self.on_behalf_of != self.actor.organisation_id

    @property
    def organisation_id(self) -> UUID | None:
        """The organisation this act is done for: the represented one, else the actor's."""
        return self.on_behalf_of or self.actor.organisation_id

    def fields(self) -> dict[str, Any]:
        """The attribution fields every event carries.

        A proxy's reason travels in the actor record, so every event (and its history,
        report and export rows) can show the 代录 and why without a field of its own.
        """
        actor = self.actor.as_dict()
        if self.by_proxy:
            actor["proxy_reason"] = self.reason
        return {
            "actor": actor,
            "on_behalf_of": self.on_behalf_of,
            "occurred_at": self.occurred_at,
        }


class CobuildAggregate(Aggregate):
    """Base for cobuild aggregates: a named lifecycle ``state`` and state guards.

    Commands are undecorated methods that check first and then call one ``@event``
    method, because an event body also runs on replay and must not refuse.
    """

    # No class annotations here: the library would turn them into created-event fields.
    subject = "aggregate"
    state = "new"

    def note_side(self, actor: dict[str, Any], side: str | None) -> None:
        """In an event body: remember the side of the pairing this person wrote for.

        ``writers`` (user id -> ``giver`` or ``receiver``) is what the rule "two parties,
        two people" (``domain.checks.refuse_other_side``) reads; it is rebuilt on replay.
        """
        if side is not None:
            writers: dict[str, str] = self.__dict__.setdefault("writers", {})
            writers[actor["user_id"]] = side

    def require_state(self, command: str, *states: str) -> None:
        if self.state not in states:
            raise WrongState(self.subject, command, self.state)
