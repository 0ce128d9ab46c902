"""Shared helpers for the domain tests: fixed organisations, a fixed UTC time base, attributions.

Nothing here reads the clock: every time is ``T0`` plus an offset.
"""
from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import SYSTEM, Actor, Attribution

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Beijing, a Monday
D0 = T0.date()
CST = timezone(timedelta(hours=8))


def org(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/cobuild/tests/organisations/{name}")


GIVER = org("agency")        # a 机关 party branch
RECEIVER = org("village")    # a 村 party branch
STRANGER = org("other-agency")  # a giving organisation that is not party to the matter
ROLE_OF = {GIVER: "agency", STRANGER: "agency", RECEIVER: "village"}


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def day(days: int = 0) -> date:
    return D0 + timedelta(days=days)


def by(organisation_id: UUID | None, when: datetime | None = None, *,
       on_behalf_of: UUID | None = None, role: str | None = None,
       user: str | None = None) -> Attribution:
    """An attribution for a user of ``organisation_id`` (None: a regional user)."""
    role = role or ROLE_OF.get(organisation_id, "supervisor")  # type: ignore[arg-type]
    actor = Actor(user_id=user or f"{role}-user", role=role, organisation_id=organisation_id)
    return Attribution(actor=actor, occurred_at=when or T0, on_behalf_of=on_behalf_of)


def clerk_for(organisation_id: UUID, when: datetime | None = None) -> Attribution:
    """A township clerk (no organisation of their own) entering data for ``organisation_id``."""
    actor = Actor(user_id="township-clerk", role="supervisor", region_code="110101001000")
    return Attribution(actor=actor, occurred_at=when or T0, on_behalf_of=organisation_id)


def system(when: datetime | None = None) -> Attribution:
    return Attribution(actor=SYSTEM, occurred_at=when or T0)


def state_of(aggregate: Any) -> dict[str, Any]:
    """Everything an aggregate holds, pending events excluded, copied for later comparison."""
    return copy.deepcopy({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})


def replay(events: Iterable[Any]) -> Any:
    """Rebuild an aggregate from its events, as a repository does."""
    aggregate = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


def event_names(events: Iterable[Any]) -> list[str]:
    return [type(e).__name__ for e in events]
