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


@dataclass(frozen=True)
class Attribution:
    """Who did it, on whose behalf, and when it happened in the world."""

    actor: Actor
    occurred_at: datetime
    on_behalf_of: UUID | None = None

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise InvalidValue("occurred_at", "must carry a UTC offset")

    @property
    def organisation_id(self) -> UUID | None:
        """The organisation this act is done for: the represented one, else the actor's."""
        return self.on_behalf_of or self.actor.organisation_id

    def fields(self) -> dict[str, Any]:
        """The attribution fields every event carries."""
        return {
            "actor": self.actor.as_dict(),
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

    def require_state(self, command: str, *states: str) -> None:
        if self.state not in states:
            raise WrongState(self.subject, command, self.state)
