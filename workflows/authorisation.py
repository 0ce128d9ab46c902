"""Who may act for whom.  Every refusal names the rule that refused.

The rules (docs/domain.md, Users and roles):
- an ``agency`` user acts only for its own organisation, which is a giving organisation;
- a ``village`` user acts only for its own organisation, which is a receiving one;
- an ``admin`` or ``supervisor`` acts within its region subtree, and for a party of a pairing
  only by naming it in ``on_behalf_of`` (a township clerk entering data for a village);
- an ``evaluator`` reads and scores, and never changes a domain fact;
- ``system`` is the workflow engine's own timers and policies.

Which *side* of a pairing may do what (the receiver accepts, the other side co-signs, the
maker never confirms its own fulfilment) is a rule of the domain and is checked there.
"""
from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.base import SYSTEM_ROLE, Actor
from domain.organisation import GIVING_KINDS, RECEIVING_KINDS
from domain.user import REGION_ROLES
from workflows.errors import Forbidden


@dataclass(frozen=True)
class OrganisationFacts:
    """What authorisation needs to know about an organisation; none of it ever changes."""

    id: UUID
    kind: str
    region_code: str


def in_region(actor: Actor, region_code: str) -> bool:
    return actor.region_code is not None and region_code.startswith(actor.region_code)


def may_see(actor: Actor, *organisations: OrganisationFacts) -> bool:
    """A record is visible to its parties and to the supervisors of either party."""
    if actor.role == SYSTEM_ROLE:
        return True
    if actor.role in REGION_ROLES:
        return any(in_region(actor, o.region_code) for o in organisations)
    return any(actor.organisation_id == o.id for o in organisations)


def require_role(actor: Actor, rule: str, *roles: str) -> None:
    if actor.role != SYSTEM_ROLE and actor.role not in roles:
        raise Forbidden(rule, f"the {actor.role} role may not do this (allowed: {', '.join(roles)})")


def require_writer(actor: Actor) -> None:
    if actor.role == "evaluator":
        raise Forbidden("evaluator-read-only", "an evaluator never changes a domain fact")


def require_system(actor: Actor) -> None:
    if actor.role != SYSTEM_ROLE:
        raise Forbidden("workflow-only", "only the workflow engine records this")


def require_region(actor: Actor, *organisations: OrganisationFacts) -> None:
    """Admin and supervisor act only within their region subtree."""
    if actor.role in ("admin", "supervisor") and not any(
        in_region(actor, o.region_code) for o in organisations
    ):
        raise Forbidden("region-scope", "the organisation is outside your region")


def require_acting_for(actor: Actor, acting_for: OrganisationFacts | None) -> None:
    """The actor may act as ``acting_for`` (its own organisation, or one it represents)."""
    require_writer(actor)
    if actor.role == SYSTEM_ROLE:
        return
    if acting_for is None:
        raise Forbidden(
            "on-behalf-required",
            f"the {actor.role} role acts for an organisation only with on_behalf_of",
        )
    if actor.role in ("agency", "village"):
        if acting_for.id != actor.organisation_id:
            raise Forbidden("own-organisation", "you act only for your own organisation")
        kinds = GIVING_KINDS if actor.role == "agency" else RECEIVING_KINDS
        if acting_for.kind not in kinds:
            side = "giving" if actor.role == "agency" else "receiving"
            raise Forbidden("role-side", f"the {actor.role} role acts only on the {side} side")
        return
    require_region(actor, acting_for)


def require_no_proxy(actor: Actor, on_behalf_of: UUID | None) -> None:
    """Agency and village users act as themselves; only admin and supervisor represent."""
    if on_behalf_of is not None and actor.role not in ("admin", "supervisor", SYSTEM_ROLE):
        if on_behalf_of != actor.organisation_id:
            raise Forbidden("no-proxy", f"the {actor.role} role cannot act on behalf of another organisation")
