"""The engine's spine: an ``eventsourcing`` application whose methods are the commands.

Every command does the same four things: attribute (who, when, on whose behalf), load,
check (authorisation here, rules in the aggregate), save.  The command methods themselves
live in one module per aggregate (``workflows/organisations.py``, ``pairings.py`` ...) and
are mixed into :class:`workflows.engine.Engine`.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Mapping, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Repository, project_aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from domain.base import SYSTEM_ROLE, Actor, Attribution, CobuildAggregate
from domain.errors import InvalidValue
from domain.organisation import Organisation
from domain.ruleset import DEFAULT_RULES, RuleSet, Rules
from domain.user import User
from workflows.authorisation import (
    REGION_ROLES, OrganisationFacts, in_region, may_see, require_acting_for, require_no_proxy,
)
from workflows.audit.wiring import audited_env
from workflows.store.clock import Clock, SystemClock, local_date
from workflows.errors import ConcurrencyConflict, Forbidden, NotFound, StaleVersion
from workflows.store import idempotency
from workflows.store.idempotency import CommandKey, CommittedOutcome, Receipt

A = TypeVar("A", bound=CobuildAggregate)

# Business time may be entered late (backfill) but never ahead of the clock by more than
# the drift between a user's device and the server.
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


class DateAsISO(Transcoding):
    type = date
    name = "date"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class CopyOnWriteRepository(Repository[UUID]):
    """The library's aggregate cache with fast-forward, but a cached aggregate is never
    changed once cached: new events are applied to a copy, which then replaces it.

    So a reader may be handed the cached object itself (``deepcopy_from_cache=False``: no
    copy of a long history per read) while another thread fast-forwards the same aggregate;
    a command still gets its own copy to change.  Every get reads the events recorded since
    the cached version, so what another process wrote is always seen."""

    def get(self, aggregate_id: UUID, *, version: int | None = None,
            projector_func: Any = project_aggregate, fastforward_skipping: bool = False,
            deepcopy_from_cache: bool = True) -> Any:
        if not self.cache or version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        try:
            cached = self.cache.get(aggregate_id)
        except KeyError:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
        else:
            new_events = list(self.event_store.get(originator_id=aggregate_id, gt=cached.version))
            aggregate = projector_func(deepcopy(cached), new_events) if new_events else cached
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        self.cache.put(aggregate_id, aggregate)
        return deepcopy(aggregate) if deepcopy_from_cache else aggregate

    def __contains__(self, item: UUID) -> bool:
        try:
            self.get(item, deepcopy_from_cache=False)  # only asked whether it exists: no copy
        except AggregateNotFoundError:
            return False
        return True


@dataclass(frozen=True)
class Outcome:
    """What a command answers: the aggregate's id, new version and state, and the log
    position of the last event written (for read-your-writes on the projections)."""

    id: UUID
    version: int
    state: str
    position: int | None
    details: Mapping[str, Any] = field(default_factory=dict)


class EngineCore(Application[UUID]):
    # eventsourcing names the tables after the application (``engine_events`` on PostgreSQL):
    # whatever builds this class directly (the audit's evidence check) reads the same tables.
    name = "Engine"
    log_section_size = 1000
    # Aggregates kept in memory between requests (least recently used out first): a load
    # then reads only the events recorded since ("fast-forward", so what another process
    # wrote is seen) instead of decoding the whole history; commands get a copy of their
    # own, reads the cached object (``CopyOnWriteRepository``).  Bounded, so a worker's
    # memory stays flat; profiled in docs/BENCHMARKS.md (issue #17).
    env = {"AGGREGATE_CACHE_MAXSIZE": "500"}

    def construct_repository(self) -> Repository[UUID]:
        repository = super().construct_repository()
        return CopyOnWriteRepository(event_store=repository.event_store,
                                     snapshot_store=repository.snapshot_store,
                                     cache_maxsize=int(self.env.get(self.AGGREGATE_CACHE_MAXSIZE) or 0) or None)

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        super().__init__(None if env is None else audited_env(env))
        self._facts: dict[UUID, OrganisationFacts] = {}
        self._facts_lock = threading.Lock()
        self._batch = threading.local()
        self._rules_seen: Rules = DEFAULT_RULES
        self._keyed = threading.local()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # -- time ---------------------------------------------------------------------------

    def today(self) -> date:
        return local_date(self.clock.now())

    def attribution(self, actor: Actor, occurred_at: datetime | None = None,
                    on_behalf_of: UUID | None = None, reason: str | None = None) -> Attribution:
        """Who, when, on whose behalf; ``reason`` is why a proxy enters it (mandatory then)."""
        require_no_proxy(actor, on_behalf_of)
        now = self.clock.now()
        when = now if occurred_at is None else occurred_at
        if when.tzinfo is None:
            raise InvalidValue("occurred_at", "must carry a UTC offset")
        if when > now + FUTURE_TOLERANCE:
            raise InvalidValue("occurred_at", "is in the future")
        if when < EARLIEST:
            raise InvalidValue("occurred_at", "is before 2000")
        if on_behalf_of is not None:
            self.organisation_facts(on_behalf_of)  # must exist
        return Attribution(actor, when.astimezone(timezone.utc), on_behalf_of, reason)

    # -- the rule set in force ------------------------------------------------------------

    _rules_lock = threading.Lock()

    def current_rules(self) -> Rules:
        """The latest published version (version 0, the defaults, before any is published).

        Versions are numbered 1, 2, ... with ids derived from the number, so the latest is
        found by looking one past the last version this process has seen.
        """
        with self._rules_lock:
            rules = self._rules_seen
            while self.exists(RuleSet.create_id(rules.version + 1)):
                rules = self.load(RuleSet, RuleSet.create_id(rules.version + 1)).rules
            self._rules_seen = rules
            return rules

    def rules_version(self, version: int) -> Rules:
        if version == 0:
            return DEFAULT_RULES
        return self.load(RuleSet, RuleSet.create_id(version)).rules

    # -- load and save ------------------------------------------------------------------

    def load(self, cls: type[A], aggregate_id: UUID, expected_version: int | None = None, *,
             shared: bool = False) -> A:
        """The aggregate as recorded; ``shared``: the cached object itself, for a caller that
        only reads it (never change a shared aggregate), else a copy of its own."""
        pending = self._pending()
        try:
            aggregate = pending[aggregate_id] if aggregate_id in pending else \
                self.repository.get(aggregate_id, deepcopy_from_cache=not shared)
        except AggregateNotFoundError:
            raise NotFound(cls.subject, aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(cls.subject, aggregate_id)
        if expected_version is not None and aggregate.version != expected_version:
            raise StaleVersion(expected_version, aggregate.version)
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self._pending() or aggregate_id in self.repository

    def recorded_versions(self, *aggregate_ids: UUID) -> tuple[int | None, ...]:
        """The version of each aggregate as recorded now (``None``: none recorded), all in
        one read: whether what this process derived from them still holds, without loading
        any (a fast-forward per aggregate is a read each)."""
        recorder: Any = self.recorder
        sql: Any = recorder.audit_sql  # both audited recorders (workflows.audit)
        mark = sql.placeholder
        statement = "SELECT " + ", ".join(
            f"(SELECT MAX(originator_version) FROM {sql.events_table} WHERE originator_id = {mark})"
            f" AS v{n}" for n in range(len(aggregate_ids)))  # named: a row may come as a dict
        # The keys as the library writes them: a uuid column on PostgreSQL, hex text on SQLite.
        keys = list(aggregate_ids) if sql.uuid_ids else [i.hex for i in aggregate_ids]
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, keys)
            row = cursor.fetchone()
        return tuple(row.values()) if isinstance(row, dict) else tuple(row)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Bulk loading: the commands run inside write in one transaction at the end.

        Each command still checks everything it checks alone, and sees what earlier
        commands of the batch did; nothing is written if the batch raises.
        """
        if self._batch.__dict__.get("pending") is not None:
            raise RuntimeError("batches do not nest")
        self._batch.pending = {}
        try:
            yield
            aggregates = list(self._batch.pending.values())
        finally:
            self._batch.pending = None
        if aggregates:
            self._save_all(aggregates)

    def _pending(self) -> dict[UUID, CobuildAggregate]:
        return self._batch.__dict__.get("pending") or {}

    def commit(self, main: CobuildAggregate, *others: CobuildAggregate,
               **details: Any) -> Outcome:
        """Save ``main`` and ``others`` in one transaction; a lost race changes nothing."""
        pending = self._batch.__dict__.get("pending")
        if pending is not None:
            for aggregate in (main, *others):
                pending[aggregate.id] = aggregate
            return Outcome(main.id, main.version, main.state, None, details)
        key = self._keyed.__dict__.pop("key", None)  # one receipt per keyed request
        receipt = None if key is None else Receipt(key, main.id, main.version, main.state, details,
                                                    self.clock.now().timestamp())
        recordings = self._save_all([main, *others], receipt)
        position = recordings[-1].notification.id if recordings else None
        return Outcome(main.id, main.version, main.state, position, details)

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """Record the pending events of ``objs``, stamped with the engine's clock.

        The recorded time (an event's ``timestamp``) is when the engine records the event,
        and time in cobuild comes from one injectable clock.  The library stamps an event with
        the wall clock when the aggregate triggers it (``create_timestamp``), because the
        aggregate knows no clock; so the engine re-stamps every pending event here, the one
        place all events pass on their way into the store.  With the system clock this moves
        the stamp by microseconds; with a fake clock (the demo, the generator, the tests) a
        fact played on a day is recorded on that day instead of counting as backfilled.
        """
        now = self.clock.now()
        for obj in objs:
            pending = getattr(obj, "pending_events", None)
            if pending:
                pending[:] = [replace(e, timestamp=now) for e in pending]
                obj.modified_on = now
        return super().save(*objs, **kwargs)

    def _save_all(self, aggregates: list[CobuildAggregate],
                  receipt: Receipt | None = None) -> list[Any]:
        main = aggregates[0]
        try:
            if receipt is not None:
                return self.save(*aggregates, receipt=receipt)
            return self.save(*aggregates)
        except IntegrityError:
            raise ConcurrencyConflict(
                f"the {main.subject} was changed by someone else at the same time; "
                "nothing was written: reload and try again") from None

    # -- Idempotency-Key: the command's receipt commits with its events ------------------

    def expect_key(self, key: CommandKey | None) -> None:
        """The next commit in this thread writes ``key``'s receipt in its transaction
        (``None``: forget it, at the end of the request)."""
        if key is None:
            self._keyed.__dict__.pop("key", None)
        else:
            self._keyed.key = key

    def committed_under(self, principal: str, key: str) -> CommittedOutcome | None:
        """What the command sent with this key committed, if it committed (and its receipt
        has not expired)."""
        recorder: Any = self.recorder
        with recorder.datastore.transaction(commit=False) as cursor:
            return idempotency.read(cursor, self._receipt_sql(), principal, key, self.clock.now())

    def purge_receipts(self) -> int:
        """Delete the receipts older than ``idempotency.RETENTION``; how many."""
        recorder: Any = self.recorder
        with recorder.datastore.transaction(commit=True) as cursor:
            return idempotency.purge(cursor, self._receipt_sql(), self.clock.now())

    def _receipt_sql(self) -> idempotency.ReceiptSQL:
        # Both audited recorders have a datastore and the log's SQL (workflows.audit).
        recorder: Any = self.recorder
        return idempotency.POSTGRES if recorder.audit_sql.uuid_ids else idempotency.SQLITE

    # -- organisations as authorisation sees them ----------------------------------------

    def organisation_facts(self, organisation_id: UUID) -> OrganisationFacts:
        facts = self._facts.get(organisation_id)
        if facts is None:
            org = self.load(Organisation, organisation_id)
            facts = OrganisationFacts(org.id, org.kind, org.region_code)
            with self._facts_lock:
                self._facts[organisation_id] = facts
        return facts

    def acting_for(self, by: Attribution) -> OrganisationFacts | None:
        return self.organisation_facts(by.organisation_id) if by.organisation_id else None

    def parties(self, aggregate: CobuildAggregate) -> list[OrganisationFacts]:
        """The organisations a record belongs to, for visibility."""
        if isinstance(aggregate, Organisation):
            return [OrganisationFacts(aggregate.id, aggregate.kind, aggregate.region_code)]
        ids = {getattr(aggregate, name, None)
               for name in ("giver_id", "receiver_id", "claimer_id", "organisation_id")}
        return [self.organisation_facts(i) for i in ids if i is not None]

    def visible_beyond_parties(self, actor: Actor, aggregate: CobuildAggregate) -> bool:
        """Whether ``actor`` sees a record it is no party to (a need it may claim)."""
        return False

    def require_visible(self, actor: Actor, aggregate: CobuildAggregate) -> None:
        parties = self.parties(aggregate)
        if parties and not may_see(actor, *parties) and not self.visible_beyond_parties(actor, aggregate):
            raise out_of_scope(aggregate.subject)
        if not parties and isinstance(aggregate, User) and aggregate.id != _user_uuid(actor):
            # A user of no organisation (a supervisor, an evaluator, an admin) is seen by
            # the admins whose region covers theirs, and by no one else (DESIGN §13).
            if actor.role not in ("admin", SYSTEM_ROLE) or not in_region(actor, aggregate.region_code or ""):
                raise out_of_scope(aggregate.subject)

    def load_as_party(self, actor: Actor, cls: type[A], aggregate_id: UUID,
                      expected_version: int | None = None, occurred_at: datetime | None = None,
                      on_behalf_of: UUID | None = None,
                      reason: str | None = None) -> tuple[A, Attribution]:
        """Load a record for a party's act: the actor must see it and may act for the
        organisation it names; which side may do what is then the aggregate's rule.
        A record outside the actor's scope is refused before its version is compared, so
        a stale ``If-Match`` discloses nothing about it."""
        aggregate = self.load_in_scope(actor, cls, aggregate_id, expected_version)
        by = self.attribution(actor, occurred_at, on_behalf_of, reason)
        require_acting_for(actor, self.acting_for(by))
        return aggregate, by

    def load_in_scope(self, actor: Actor, cls: type[A], aggregate_id: UUID,
                      expected_version: int | None = None, *, shared: bool = False) -> A:
        """Load a record the actor may see, then (only then) compare its version.

        An organisation's id is derived from its code (uuid5), so for anyone who does not
        see the whole country an unknown one is refused as one outside their scope: which
        codes exist cannot be probed."""
        try:
            aggregate = self.load(cls, aggregate_id, shared=shared)
        except NotFound:
            sees_all = actor.role == SYSTEM_ROLE or (actor.role in REGION_ROLES
                                                     and actor.region_code == "")
            if cls is Organisation and not sees_all:
                raise out_of_scope(cls.subject) from None
            raise
        self.require_visible(actor, aggregate)
        self.check_version(aggregate, expected_version)
        return aggregate

    @staticmethod
    def check_version(aggregate: CobuildAggregate, expected_version: int | None) -> None:
        """``If-Match``: called once the actor is known to be in scope (403 before 412)."""
        if expected_version is not None and aggregate.version != expected_version:
            raise StaleVersion(expected_version, aggregate.version)

    def read(self, actor: Actor, cls: type[A], aggregate_id: UUID) -> A:
        """A record for reading only: the cached aggregate itself, shared with other
        readers, so the caller must never change it (commands load their own copy)."""
        return self.load_in_scope(actor, cls, aggregate_id, shared=True)


def out_of_scope(subject: str) -> Forbidden:
    return Forbidden("not-in-scope", f"this {subject} is outside your organisation or region")


def _user_uuid(actor: Actor) -> UUID | None:
    try:
        return UUID(actor.user_id)
    except ValueError:
        return None
