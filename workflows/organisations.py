"""Commands on organisations and users: registration, bulk onboarding, tokens."""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Mapping
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import SYSTEM, Actor
from domain.errors import DomainError, Duplicate, InvalidValue, NotPermitted
from domain.organisation import GIVING_KINDS, RECEIVING_KINDS, Organisation
from domain.ruleset import RuleSet, Rules
from domain.user import AccessToken, LoginName, User, hash_secret, normalise_login, token_digest
from workflows.authorisation import in_region, require_region, require_role
from workflows.core import EngineCore, Outcome
from workflows.store.clock import Clock
from workflows.onboarding import UnreadableTable, read_table
from workflows.errors import Forbidden, NotFound, Unauthenticated

BOOTSTRAP_ADMIN_ID = uuid5(NAMESPACE_URL, "/cobuild/users/bootstrap-admin")
FIRST_ADMIN_LOGIN = "admin"  # the first admin's login for the web pages
_DUMMY_SALT = b"cobuild-no-such-login"


# Activation codes are read aloud or copied from a screen to a phone: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12  # about 59 bits: beyond guessing online (throttled) and offline (scrypt)


def new_activation_code() -> str:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(code[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def canonical_code(code: str) -> str:
    """The code as hashed: capitals without the dashes and spaces people add or drop."""
    return "".join(c for c in (code or "").upper() if c not in "- \t")[:64]


def _salt() -> bytes:
    return secrets.token_bytes(16)


@dataclass(frozen=True)
class SignedIn:
    """A person signed in: who acts, and the credentials version the session is bound to."""

    actor: Actor
    name: str
    login: str
    credentials_version: int


@dataclass(frozen=True)
class SignedInToken:
    """What ``authenticate`` derived from a token, with the versions it derived it from."""

    actor: Actor
    access: AccessToken  # the cached aggregate itself: never changed
    user_id: UUID
    user_version: int
    rules: Rules
    next_rules_id: UUID  # the rule set that would replace ``rules`` once published


class SignedInTokens:
    """The tokens recently authenticated in this process, by digest (bounded: the least
    recently added go first); an entry is only ever replaced whole, so threads share it."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: dict[str, SignedInToken] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> SignedInToken | None:
        return self._entries.get(digest)

    def put(self, digest: str, entry: SignedInToken) -> None:
        with self._lock:
            self._entries.pop(digest, None)
            self._entries[digest] = entry
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]

    def pop(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)


class AlreadyInitialised(DomainError):
    code = "already-initialised"


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


class ImportRejected(DomainError):
    """A bulk import with bad rows: nothing was imported."""

    code = "import-rejected"

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s); nothing was imported")
        self.errors = errors


class OrganisationCommands(EngineCore):
    def register_organisation(self, actor: Actor, code: str, name: str, kind: str,
                              region_code: str, occurred_at: datetime | None = None) -> Outcome:
        require_role(actor, "admin-registers", "admin")
        by = self.attribution(actor, occurred_at)
        org = Organisation.register(by, code, name, kind, region_code)
        if actor.region_code is not None and not in_region(actor, org.region_code):
            raise Forbidden("region-scope", "the organisation is outside your region")
        if self.exists(org.id):
            raise Duplicate(f"an organisation with code {code!r} is already registered", field="code")
        return self.commit(org)

    def import_organisations(self, actor: Actor, data: bytes | str) -> list[Outcome]:
        """Bulk onboarding from CSV or XLSX (``workflows.onboarding``: code, name, kind,
        region_code, optionally income_year and income_yuan; English or Chinese headers):
        every row or none, each bad row named by its line."""
        orgs = self.check_import(actor, data)
        self.commit(*orgs)  # one transaction: all rows or none
        return [Outcome(o.id, o.version, o.state, None) for o in orgs]

    def check_import(self, actor: Actor, data: bytes | str) -> list[Organisation]:
        """Every row of an import checked as the import checks it, nothing written: the
        organisations it would register, or ImportRejected naming each bad row (a preview)."""
        require_role(actor, "admin-registers", "admin")
        by = self.attribution(actor)
        try:
            rows = read_table(data)
        except UnreadableTable as error:
            raise ImportRejected([RowError(1, str(error))]) from None
        orgs: list[Organisation] = []
        errors: list[RowError] = []
        seen: dict[str, int] = {}
        for row in rows:
            get = row.values.get
            code = get("code", "")
            try:
                org = Organisation.register(by, code, get("name", ""), get("kind", ""),
                                            get("region_code", ""))
                if not in_region(actor, org.region_code):
                    raise InvalidValue("region_code", "is outside your region")
                if code in seen:
                    raise InvalidValue("code", f"repeats line {seen[code]}")
                if self.exists(org.id):
                    raise InvalidValue("code", "is already registered")
                year, amount = get("income_year", ""), get("income_yuan", "")
                if year or amount:
                    if not (year and amount):
                        raise InvalidValue("income_year" if not year else "income_yuan",
                                           "the year and the collective income go together")
                    if not year.isdigit():
                        raise InvalidValue("income_year", f"{year!r} is not a year")
                    try:
                        yuan = Decimal(amount.replace(",", ""))
                    except InvalidOperation:
                        raise InvalidValue("income_yuan", f"{amount!r} is not an amount in yuan") from None
                    org.report_collective_income(by, int(year), yuan)
            except DomainError as error:
                errors.append(RowError(row.line, error.message))
                continue
            seen[code] = row.line
            orgs.append(org)
        if errors:
            raise ImportRejected(errors)
        if not orgs:
            raise ImportRejected([RowError(1, "the file has no rows")])
        return orgs

    def report_collective_income(self, actor: Actor, organisation_id: UUID, year: int,
                                 amount: Decimal, expected_version: int | None = None) -> Outcome:
        require_role(actor, "admin-reports-income", "admin")
        org = self.load(Organisation, organisation_id)
        require_region(actor, self.organisation_facts(org.id))
        self.check_version(org, expected_version)
        org.report_collective_income(self.attribution(actor), year, amount)
        return self.commit(org)

    def rename_organisation(self, actor: Actor, organisation_id: UUID, name: str,
                            expected_version: int | None = None) -> Outcome:
        require_role(actor, "admin-renames", "admin")
        org = self.load(Organisation, organisation_id)
        require_region(actor, self.organisation_facts(org.id))
        self.check_version(org, expected_version)
        org.rename(self.attribution(actor), name)
        return self.commit(org)

    def dissolve_organisation(self, actor: Actor, organisation_id: UUID, reason: str,
                              expected_version: int | None = None) -> Outcome:
        require_role(actor, "admin-dissolves", "admin")
        org = self.load(Organisation, organisation_id)
        require_region(actor, self.organisation_facts(org.id))
        self.check_version(org, expected_version)
        org.dissolve(self.attribution(actor), reason)
        return self.commit(org)

    def organisation_by_code(self, code: str) -> Organisation:
        return self.load(Organisation, Organisation.create_id(code))


class UserCommands(EngineCore):
    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock | None = None) -> None:
        super().__init__(env, clock)
        self._signed_in = SignedInTokens()

    def bootstrap_admin(self, token: str | None = None, region_code: str = "",
                        name: str = "初始管理员") -> str:
        """Create the first admin once and return its token (the only time it is shown)."""
        return self._first_admin(token, region_code, name, None)[0]

    def initialise(self, token: str | None = None, region_code: str = "",
                   login: str = FIRST_ADMIN_LOGIN, name: str = "初始管理员") -> tuple[str, str]:
        """Create the first admin once, with a login for the web pages: its token and its
        one-time activation code, the only time either is shown (the store keeps hashes)."""
        token, code = self._first_admin(token, region_code, name, login)
        assert code is not None
        return token, code

    def _first_admin(self, token: str | None, region_code: str, name: str,
                     login: str | None) -> tuple[str, str | None]:
        if self.exists(BOOTSTRAP_ADMIN_ID):
            raise AlreadyInitialised("cobuild is already initialised: the first admin exists")
        by = self.attribution(SYSTEM)
        # The first admin has a well-known id, so a second init also collides at save time.
        user = User.register(by, name, "admin", region_code=region_code, user_id=BOOTSTRAP_ADMIN_ID)
        extra: list[LoginName] = []
        code = None
        if login is not None:
            name_taken, code = self._login_for(by, user, login)
            extra.append(name_taken)
        token, access = self._new_token(by, user, token)
        self.commit(user, access, *extra)
        return token, code

    def register_user(self, actor: Actor, name: str, role: str,
                      organisation_id: UUID | None = None,
                      region_code: str | None = None,
                      login: str | None = None) -> tuple[Outcome, str]:
        """Register a user with a bearer token; with a ``login``, also the one-time
        activation code for the web pages, answered in ``details["activation_code"]``."""
        require_role(actor, "admin-registers-users", "admin")
        by = self.attribution(actor)
        user = User.register(by, name, role, organisation_id, region_code)
        extra: list[LoginName] = []
        details: dict[str, str] = {}
        if login is not None:
            name_taken, code = self._login_for(by, user, login)
            extra.append(name_taken)
            details["activation_code"] = code
        if organisation_id is not None:
            facts = self.organisation_facts(organisation_id)
            require_region(actor, facts)
            kinds = GIVING_KINDS if role == "agency" else RECEIVING_KINDS
            if facts.kind not in kinds:
                raise InvalidValue("organisation_id", f"a {role} user belongs to a "
                                   f"{'giving' if role == 'agency' else 'receiving'} organisation")
        elif not in_region(actor, region_code or ""):
            raise Forbidden("region-scope", "the user's region is outside your region")
        token, access = self._new_token(by, user)
        return self.commit(user, access, *extra, **details), token

    # -- people's sign-in (web pages) -----------------------------------------------------

    def give_login(self, actor: Actor, user_id: UUID, login: str) -> tuple[Outcome, str]:
        """Give an existing user (the first admin, users from before logins) a login;
        answers the activation code, the only time it is shown."""
        require_role(actor, "admin-gives-logins", "admin")
        user = self.load(User, user_id)
        self._require_manages(actor, user)
        name_taken, code = self._login_for(self.attribution(actor), user, login)
        return self.commit(user, name_taken), code

    def reset_password(self, actor: Actor, user_id: UUID, reason: str) -> tuple[Outcome, str]:
        """Clear a user's password and answer a new activation code (shown once)."""
        require_role(actor, "admin-resets-passwords", "admin")
        user = self.load(User, user_id)
        self._require_manages(actor, user)
        code = new_activation_code()
        user.reset(self.attribution(actor), reason, canonical_code(code), _salt())
        return self.commit(user), code

    def deactivate_user(self, actor: Actor, user_id: UUID, reason: str,
                        expected_version: int | None = None) -> Outcome:
        """Close an account: its tokens and web sessions stop at once (they check the user)."""
        require_role(actor, "admin-deactivates-users", "admin")
        user = self.load(User, user_id)
        self._require_manages(actor, user)
        self.check_version(user, expected_version)  # in scope first: 403 before 412
        if str(user.id) == actor.user_id:
            raise NotPermitted("not-yourself", "an admin does not deactivate its own account")
        user.deactivate(self.attribution(actor), reason)
        return self.commit(user)

    def revoke_user_tokens(self, actor: Actor, user_id: UUID, reason: str,
                           expected_version: int | None = None) -> Outcome:
        """Every token the user holds stops at once: by the user itself, or an admin over it."""
        user = self.load(User, user_id)
        if actor.user_id != str(user.id):
            require_role(actor, "admin-revokes-tokens", "admin")
            self._require_manages(actor, user)
        self.check_version(user, expected_version)  # in scope first: 403 before 412
        user.revoke_tokens(self.attribution(actor), reason)
        return self.commit(user)

    def user_by_login(self, login: str) -> User:
        try:
            name = self.load(LoginName, LoginName.create_id(login))
        except InvalidValue:
            raise NotFound("login", login) from None
        return self.load(User, name.user_id)

    def activate_account(self, login: str, code: str, password: str) -> Outcome:
        """The person sets a password with the activation code.  An unknown login answers
        the same refusal as a wrong code, so the page tells nobody which logins exist."""
        try:
            user = self.user_by_login(login)
        except NotFound:
            hash_secret(canonical_code(code), _DUMMY_SALT)  # as long as a real refusal takes
            raise NotPermitted("wrong-activation-code",
                               "the login or the activation code is not right") from None
        by = self.attribution(self._actor_of(user))
        user.activate(by, canonical_code(code), password, _salt())
        return self.commit(user)

    def sign_in(self, login: str, password: str) -> SignedIn:
        """Check a login and password; writes nothing.  Every refusal is the same one."""
        try:
            user = self.user_by_login(login)
        except NotFound:
            user = None
        if user is None or not user.activated:
            # As long as a real check takes: timing tells nobody which logins exist.
            hash_secret(password or "", _DUMMY_SALT)
            raise Unauthenticated("wrong login or password")
        if not user.password_matches(password or ""):
            raise Unauthenticated("wrong login or password")
        return SignedIn(self._actor_of(user), user.name, user.login or "", user.credentials_version)

    def change_password(self, actor: Actor, old_password: str, password: str) -> Outcome:
        user = self.load(User, UUID(actor.user_id))
        user.change_password(self.attribution(actor), old_password, password, _salt())
        return self.commit(user)

    def session_user(self, user_id: UUID, credentials_version: int) -> tuple[Actor, User]:
        """The user behind a web session, checked on every request: a deactivated user, a
        reset or a changed password ends the session at once."""
        try:
            user = self.load(User, user_id)
        except NotFound:
            raise Unauthenticated("the session's user does not exist") from None
        if user.state != "active" or not user.activated:
            raise Unauthenticated("the user is deactivated or has no password")
        if user.credentials_version != credentials_version:
            raise Unauthenticated("the session was ended by a change of credentials")
        return self._actor_of(user), user

    @staticmethod
    def _actor_of(user: User) -> Actor:
        return Actor(user_id=str(user.id), role=user.role,
                     organisation_id=user.organisation_id, region_code=user.region_code)

    def _login_for(self, by, user: User, login: str) -> tuple[LoginName, str]:
        login = normalise_login(login)
        if self.exists(LoginName.create_id(login)):
            raise Duplicate(f"the login {login!r} is already taken", field="login")
        code = new_activation_code()
        user.give_login(by, login, canonical_code(code), _salt())
        return LoginName.take(by, login, user.id), code

    def issue_token(self, actor: Actor, user_id: UUID) -> str:
        require_role(actor, "admin-issues-tokens", "admin")
        user = self.load(User, user_id)
        self._require_manages(actor, user)
        user.require_state("issue a token to", "active")
        token, access = self._new_token(self.attribution(actor), user)
        self.commit(access)
        return token

    def revoke_token(self, actor: Actor, token: str, reason: str) -> Outcome:
        access = self._token(token_digest(token))
        user = self.load(User, access.user_id)
        if actor.user_id != str(user.id):
            require_role(actor, "admin-revokes-tokens", "admin")
            self._require_manages(actor, user)
        access.revoke(self.attribution(actor), reason)
        return self.commit(access)

    def authenticate(self, token: str) -> Actor:
        """The actor a bearer token stands for, checked against the store on every call.

        Every request authenticates, so the answer is kept per token with the versions it
        was derived from (the token's, its user's, the rule set's); the next call reads
        only the versions recorded now, in one statement, and derives again if any moved:
        a revoked token, a deactivated user or a reset of the user's tokens, by any
        process, is refused on the very next request."""
        if not token or len(token) > 200:
            raise Unauthenticated("no valid bearer token")
        digest = token_digest(token)
        known = self._signed_in.get(digest)
        if known is not None and not self._pending():
            recorded = self.recorded_versions(known.access.id, known.user_id, known.next_rules_id)
            if recorded == (known.access.version, known.user_version, None):
                self._check_expiry(known.access, known.rules)
                return known.actor
        self._signed_in.pop(digest)
        access_id = AccessToken.create_id(digest)
        try:
            # Read only: the cached token itself, no copy.
            access = self.load(AccessToken, access_id, shared=True)
        except NotFound:
            raise Unauthenticated("unknown token") from None
        if access.state != "valid":
            raise Unauthenticated("the token was revoked")
        user = self.load(User, access.user_id, shared=True)
        if user.state != "active":
            raise Unauthenticated("the user is deactivated")
        if access.generation < user.token_generation:
            raise Unauthenticated("the token was revoked")
        rules = self.current_rules()
        self._check_expiry(access, rules)
        actor = self._actor_of(user)
        if not self._pending():  # a batch's aggregates are not recorded yet
            self._signed_in.put(digest, SignedInToken(actor, access, user.id, user.version, rules,
                                                      RuleSet.create_id(rules.version + 1)))
        return actor

    def _check_expiry(self, access: AccessToken, rules: Rules) -> None:
        if access.expired(self.clock.now(), rules["token_days"]):
            raise Unauthenticated("the token has expired: ask your administrator for a new one")

    def _token(self, digest: str) -> AccessToken:
        return self.load(AccessToken, AccessToken.create_id(digest))

    def _new_token(self, by, user: User, token: str | None = None) -> tuple[str, AccessToken]:
        token = token or secrets.token_urlsafe(32)
        if len(token) < 16:
            raise InvalidValue("token", "must be at least 16 characters")
        digest = token_digest(token)
        if self.exists(AccessToken.create_id(digest)):
            raise InvalidValue("token", "is already in use")
        return token, AccessToken.issue(by, digest, user)

    def _require_manages(self, actor: Actor, user: User) -> None:
        if user.organisation_id is not None:
            require_region(actor, self.organisation_facts(user.organisation_id))
        elif not in_region(actor, user.region_code or ""):
            raise Forbidden("region-scope", "the user is outside your region")
