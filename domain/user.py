"""Users, their access tokens, and the sign-in of people (login and password).

A user has one role and belongs to one organisation (agency, village) or one region
(admin, supervisor, evaluator).  Tokens are never stored: only their SHA-256 digest, which
is also the natural key of the token aggregate, so looking a token up is one read.

People sign in to the web pages with a ``login`` and a password (docs/web.md).  An admin gives
the login and a one-time activation code; the person sets a password with it.  Only scrypt
hashes of the code and the password are recorded (docs/decisions.md, trust rules: the events are audit history that
evaluators read), with their salt and cost parameters, so the cost can be raised later
without breaking stored hashes.  Each change of credentials (activation, password change,
admin reset) raises ``credentials_version``: a web session remembers the version it was
opened under and ends when it no longer matches.  The login is the natural key of a
:class:`LoginName`, so finding the user behind a login is one read, and two users can never
hold the same login (the second save collides).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import event

from domain.base import ROLES, Attribution, CobuildAggregate
from domain.checks import check_reason, check_text
from domain.errors import InvalidValue, NotPermitted

ORGANISATION_ROLES = ("agency", "village")
REGION_ROLES = ("admin", "supervisor", "evaluator")
# A region scope is a prefix of the 12-digit code at a real level: the whole country
# (empty), province, city, county, township or village.
_REGION_SCOPE = re.compile(r"^(|[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})$")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- logins and passwords ---------------------------------------------------------------------

# Letters, digits and . _ - (a name in pinyin, a staff number, a phone number), compared
# without case: people type logins on phones whose keyboards capitalise the first letter.
_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 128  # scrypt takes any length; a limit keeps a huge form field cheap to refuse
# An activation code is valid this long after the admin hands it out.
ACTIVATION_VALID = timedelta(days=14)
# scrypt with N=2**15, r=8, p=1: 32 MiB and some tens of milliseconds per hash, memory-hard
# so that a stolen event log is costly to guess against.  Stored with each hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_HASH = re.compile(r"^scrypt\$n=([0-9]{1,7}),r=([0-9]{1,2}),p=([0-9]{1,2})"
                   r"\$([A-Za-z0-9+/=]{8,64})\$([A-Za-z0-9+/=]{16,128})$")


def normalise_login(login: object) -> str:
    if not isinstance(login, str):
        raise InvalidValue("login", "must be text")
    value = login.strip().lower()
    if not _LOGIN.match(value):
        raise InvalidValue("login", "must be 3-40 letters, digits or . _ - and start with a letter or digit")
    return value


def check_password(password: object, login: str | None = None) -> str:
    """The rules a new password follows; the password itself is never kept."""
    if not isinstance(password, str):
        raise InvalidValue("password", "must be text")
    if len(password) < PASSWORD_MIN:
        raise InvalidValue("password", f"must be at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise InvalidValue("password", f"must be at most {PASSWORD_MAX} characters")
    if len(set(password)) < 4:
        raise InvalidValue("password", "must use at least 4 different characters")
    if login is not None and login in password.lower():
        raise InvalidValue("password", "must not contain the login")
    return password


def hash_secret(secret: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R,
                p: int = SCRYPT_P) -> str:
    """``scrypt$n=..,r=..,p=..$<salt>$<hash>``: the salt and cost travel with the hash.

    The salt is handed in (the caller draws it at random) so that the domain stays free
    of I/O and every hash is reproducible in a test."""
    if len(salt) < 16:
        raise InvalidValue("salt", "must be at least 16 bytes")
    derived = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                             maxmem=_SCRYPT_MAXMEM, dklen=32)
    b64 = base64.b64encode
    return f"scrypt$n={n},r={r},p={p}${b64(salt).decode()}${b64(derived).decode()}"


def verify_secret(secret: str, stored: str | None) -> bool:
    """Whether ``secret`` hashes to ``stored``; compared in constant time."""
    match = _HASH.match(stored or "")
    if match is None or not isinstance(secret, str):
        return False
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if n < 2 or n & (n - 1) or n > 2 ** 20 or r < 1 or p < 1:
        return False  # not a cost this code writes: refuse rather than spend unbounded memory
    salt = base64.b64decode(match.group(4))
    try:
        expected = hash_secret(secret, salt, n, r, p)
    except (ValueError, InvalidValue):
        return False  # a cost beyond the memory limit, a short salt: not a hash we wrote
    return hmac.compare_digest(expected.encode(), match.group(0).encode())  # the whole of stored


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
                raise InvalidValue("region_code", "must be a region prefix of 2, 4, 6, 9 or 12 digits "
                                                  "(empty for the whole country)")
        return cls(id=user_id or uuid4(), name=check_text("name", name, 100), role=role,
                   organisation_id=organisation_id, region_code=region_code, **by.fields())

    @event("UserRegistered")
    def __init__(self, id: UUID, name: str, role: str, organisation_id: UUID | None,
                 region_code: str | None, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.name = name
        self.role = role
        self.organisation_id = organisation_id
        self.region_code = region_code
        self.state = "active"
        self.login = None
        self.password_hash = None
        self.activation_hash = None
        self.activation_until = None
        self.credentials_version = 0

    # Older users were registered before logins existed: their state lacks the attributes.
    login: str | None = None
    password_hash: str | None = None
    activation_hash: str | None = None
    activation_until: datetime | None = None
    credentials_version = 0

    @property
    def activated(self) -> bool:
        return self.password_hash is not None

    def give_login(self, by: Attribution, login: str, code: str, salt: bytes) -> None:
        """An admin gives the account its login and a one-time activation ``code``; only the
        code's hash is recorded (the caller draws the code and the salt at random)."""
        self.require_state("give a login", "active")
        if self.login is not None:
            raise InvalidValue("login", f"the user already has the login {self.login!r}")
        self._login_given(login=normalise_login(login), activation_hash=hash_secret(code, salt),
                          activation_until=by.occurred_at + ACTIVATION_VALID, **by.fields())

    @event("LoginGiven")
    def _login_given(self, login: str, activation_hash: str, activation_until: datetime,
                     actor: dict[str, Any], on_behalf_of: UUID | None,
                     occurred_at: datetime) -> None:
        self.login = login
        self.activation_hash = activation_hash
        self.activation_until = activation_until

    def activate(self, by: Attribution, code: str, password: str, salt: bytes) -> None:
        """The person sets a password with the activation code: the code works once."""
        self.require_state("activate", "active")
        # The code is checked before its age, so that only someone holding the right code
        # learns that it expired (anyone else learns nothing about the account).
        if not verify_secret(code, self.activation_hash):
            raise NotPermitted("wrong-activation-code", "the login or the activation code is not right")
        if self.activation_until is not None and by.occurred_at > self.activation_until:
            raise NotPermitted("activation-expired", "the activation code has expired: "
                               "ask the admin for a new one")
        password = check_password(password, self.login)
        self._activated(password_hash=hash_secret(password, salt), **by.fields())

    @event("UserActivated")
    def _activated(self, password_hash: str, actor: dict[str, Any],
                   on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.password_hash = password_hash
        self.activation_hash = None
        self.activation_until = None
        self.credentials_version += 1

    def password_matches(self, password: str) -> bool:
        """Whether a person may sign in with this password (never for a closed account)."""
        # The hash is checked first, so a closed account takes as long to refuse.
        return verify_secret(password, self.password_hash) and self.state == "active"

    def change_password(self, by: Attribution, old_password: str, password: str,
                        salt: bytes) -> None:
        self.require_state("change the password", "active")
        if not verify_secret(old_password, self.password_hash):
            raise NotPermitted("wrong-password", "the current password is not right")
        password = check_password(password, self.login)
        if password == old_password:
            raise InvalidValue("password", "must differ from the current password")
        self._password_changed(password_hash=hash_secret(password, salt), **by.fields())

    @event("PasswordChanged")
    def _password_changed(self, password_hash: str, actor: dict[str, Any],
                          on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.password_hash = password_hash
        self.credentials_version += 1

    def reset(self, by: Attribution, reason: str, code: str, salt: bytes) -> None:
        """An admin clears the password (forgotten, or the account shared) and hands out a
        new activation code; every open session of the user ends."""
        self.require_state("reset the password", "active")
        if self.login is None:
            raise InvalidValue("login", "the user has no login to reset: give one first")
        self._password_reset(reason=check_reason(reason), activation_hash=hash_secret(code, salt),
                             activation_until=by.occurred_at + ACTIVATION_VALID, **by.fields())

    @event("PasswordReset")
    def _password_reset(self, reason: str, activation_hash: str, activation_until: datetime,
                        actor: dict[str, Any], on_behalf_of: UUID | None,
                        occurred_at: datetime) -> None:
        self.password_hash = None
        self.activation_hash = activation_hash
        self.activation_until = activation_until
        self.credentials_version += 1

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


class LoginName(CobuildAggregate):
    """A login taken by a user: its natural key makes the login unique and one read away."""

    subject = "login"

    @staticmethod
    def create_id(login: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/cobuild/logins/{normalise_login(login)}")

    @classmethod
    def take(cls, by: Attribution, login: str, user_id: UUID) -> "LoginName":
        return cls(login=normalise_login(login), user_id=user_id, **by.fields())

    @event("LoginTaken")
    def __init__(self, login: str, user_id: UUID, actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.login = login
        self.user_id = user_id
        self.state = "taken"
