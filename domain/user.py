"""Users and their access tokens.

A user has one role and belongs to one organisation (agency, village) or one region
(admin, supervisor, evaluator).  Tokens are never stored: only their SHA-256 digest, which
is also the natural key of the token aggregate, so looking a token up is one read.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import event

from domain.base import ROLES, Attribution, CobuildAggregate
from domain.checks import check_reason, check_text
from domain.errors import InvalidValue

ORGANISATION_ROLES = ("agency", "village")
REGION_ROLES = ("admin", "supervisor", "evaluator")
# A region scope is a prefix of the 12-digit code at a real level: the whole country
# (empty), province, city, county, township or village.
_REGION_SCOPE = re.compile(r"^(|[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})$")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class User(CobuildAggregate):
    subject = "user"

    @classmethod
    def register(
        cls, by: Attribution, name: str, role: str, organisation_id: UUID | None = None,
        region_code: str | None = None, user_id: UUID | None = None,
    ) -> "User":
        if role not in ROLES:
            raise InvalidValue("role", f"must be one of {', '.join(ROLES)}")
        if role in ORGANISATION_ROLES:
            if organisation_id is None:
                raise InvalidValue("organisation_id", f"is required for the {role} role")
            if region_code is not None:
                raise InvalidValue("region_code", f"is not used for the {role} role")
        else:
            if organisation_id is not None:
                raise InvalidValue("organisation_id", f"is not used for the {role} role")
            if not isinstance(region_code, str) or not _REGION_SCOPE.match(region_code):
                raise InvalidValue("region_code", "must be a region prefix of 2, 4, 6, 9 or 12 digits (empty for the whole country)")
        return cls(id=user_id or uuid4(), name=check_text("name", name, 100), role=role,
                   organisation_id=organisation_id, region_code=region_code, **by.fields())

    @event("UserRegistered")
    def __init__(self, id: UUID, name: str, role: str, organisation_id: UUID | None,  # noqa: A002
                 region_code: str | None, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.name = name
        self.role = role
        self.organisation_id = organisation_id
        self.region_code = region_code
        self.state = "active"

    def deactivate(self, by: Attribution, reason: str) -> None:
        self.require_state("deactivate", "active")
        self._deactivated(reason=check_reason(reason), **by.fields())

    @event("UserDeactivated")
    def _deactivated(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                     occurred_at: datetime) -> None:
        self.state = "deactivated"


class AccessToken(CobuildAggregate):
    subject = "access token"

    @staticmethod
    def create_id(digest: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/cobuild/tokens/{digest}")

    @classmethod
    def issue(cls, by: Attribution, digest: str, user_id: UUID) -> "AccessToken":
        return cls(digest=digest, user_id=user_id, **by.fields())

    @event("AccessTokenIssued")
    def __init__(self, digest: str, user_id: UUID, actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.digest = digest
        self.user_id = user_id
        self.state = "valid"

    def revoke(self, by: Attribution, reason: str) -> None:
        self.require_state("revoke", "valid")
        self._revoked(reason=check_reason(reason), **by.fields())

    @event("AccessTokenRevoked")
    def _revoked(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.state = "revoked"
