"""Users and their access tokens.

A user has one role and belongs to one organisation (agency, village) or one region
(admin, supervisor, evaluator).  Tokens are never stored: only their SHA-256 digest, which
is also the natural key of the token aggregate, so looking a token up is one read.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import event

from domain.base import ROLES, Attribution, CobuildAggregate
from domain.checks import check_reason, check_text
from domain.errors import InvalidValue

ORGANISATION_ROLES = ("agency", "village")
REGION_ROLES = ("admin", "supervisor", "evaluator")
ROLE_LABELS = {"admin": "组织部", "supervisor": "督办", "agency": "机关（给予方）",
               "village": "村（社区）", "evaluator": "考核"}
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
        # Raised by each revocation of all the user's tokens: a token issued under an earlier
        # generation no longer signs in.
        self.token_generation = 0

    def deactivate(self, by: Attribution, reason: str) -> None:
        self.require_state("deactivate", "active")
        self._deactivated(reason=check_reason(reason), **by.fields())

    @event("UserDeactivated")
    def _deactivated(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                     occurred_at: datetime) -> None:
        self.state = "deactivated"

    def revoke_tokens(self, by: Attribution, reason: str) -> None:
        """Every token issued so far stops at once (a lost phone, a suspected leak)."""
        self.require_state("revoke the tokens of", "active")
        self._tokens_revoked(reason=check_reason(reason), **by.fields())

    @event("TokensRevoked")
    def _tokens_revoked(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                        occurred_at: datetime) -> None:
        self.token_generation += 1


class AccessToken(CobuildAggregate):
    subject = "access token"

    @staticmethod
    def create_id(digest: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/cobuild/tokens/{digest}")

    @classmethod
    def issue(cls, by: Attribution, digest: str, user: "User") -> "AccessToken":
        return cls(digest=digest, user_id=user.id, generation=user.token_generation,
                   **by.fields())

    @event("AccessTokenIssued")
    def __init__(self, digest: str, user_id: UUID, actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime, generation: int = 0) -> None:
        # ``generation`` was added later: tokens issued before it belong to generation 0.
        self.digest = digest
        self.user_id = user_id
        self.generation = generation
        self.issued_at = occurred_at
        self.state = "valid"

    def expired(self, now: datetime, days: int) -> bool:
        return now >= self.issued_at + timedelta(days=days)

    def revoke(self, by: Attribution, reason: str) -> None:
        self.require_state("revoke", "valid")
        self._revoked(reason=check_reason(reason), **by.fields())

    @event("AccessTokenRevoked")
    def _revoked(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.state = "revoked"
