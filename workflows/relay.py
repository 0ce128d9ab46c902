"""The relay: the event log published through kombu, at least once, resumed after a crash.

The event store is the outbox.  The relay reads the log from the position it has saved,
publishes each event as a versioned JSON integration message on the ``cobuild.events``
topic exchange (routing key ``<aggregate>.<Event>``, message id = log position), publishes
reminders and follow-up notices on ``cobuild.notifications``, and only then saves the new
position.  A crash between publishing and saving publishes the same messages again with the
same ids; consumers de-duplicate (:class:`Consumer`).

The relay's position and the consumers' inboxes are side stores (:class:`SqlStore` ``relay``
and ``consumer``): tables of the PostgreSQL database in production, ``relay.sqlite`` and
``consumer.sqlite`` in ``COBUILD_HOME`` embedded.

Access tokens never leave the store: their events are skipped (their positions are gaps).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable
from uuid import UUID, uuid4

from kombu import Connection, Exchange, Queue
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps
from kombu.mixins import ConsumerMixin

from domain.labels import FOLLOWUP_REASONS, label
from domain.timer import Timer
from workflows.store import schema
from workflows.store.clock import local_date
from workflows.store.outages import OutageWatch, is_outage, keep_running
from workflows.store.settings import Settings
from workflows.core import EngineCore
from workflows.store.sqlstore import SqlStore

SCHEMA_VERSION = 1
EVENTS = Exchange("cobuild.events", type="topic", durable=True)
NOTIFICATIONS = Exchange("cobuild.notifications", type="topic", durable=True)
RELAY = "relay"
DEFAULT_CONSUMER = "cobuild.gateway"  # declared by the relay too, so it misses nothing
_PRIVATE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic",
                   "actor", "on_behalf_of", "occurred_at"}
_SKIPPED = {"AccessToken"}
log = logging.getLogger("cobuild.relay")
_SLUGS = {"PublicCommitment": "commitment", "ServiceTask": "task", "FollowUpCase": "followup",
          "PairingSlot": "pairing_slot", "AccessToken": "access_token", "RuleSet": "ruleset",
          "EvaluationRound": "evaluation"}


class _FilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel, safe on a full disk and against half-written files.

    kombu writes a message straight into the queue folder, so a reader can pick up a file
    still being written, and a full disk leaves an empty one behind, which kills the
    consumer that reads it.  Here a message is written under a name no reader looks at and
    renamed into place once complete (a rename is atomic within a folder); a file that does
    not decode (left by an older writer) is skipped: the relay publishes again every message
    it could not write, under the same id."""

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{int(round(time.monotonic() * 1000))}_{uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as handle:
                handle.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"cannot add a message to {self.data_folder_out}: {error}") from error

    def _get(self, queue: str) -> Any:  # type: ignore[override]
        while True:
            try:
                return super()._get(queue)
            except ValueError:
                continue  # an undecodable file, already moved out of the queue by kombu


class _FilesystemTransport(filesystem.Transport):
    Channel = _FilesystemChannel


def broker_connection(settings: Settings) -> Connection:
    """kombu connection from COBUILD_BROKER_URL; the filesystem transport lives in the data folder."""
    url = settings.effective_broker_url
    if url.startswith("filesystem://"):
        folder = settings.home / "broker"
        for sub in ("messages", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return Connection(url, transport=_FilesystemTransport, transport_options={
            "data_folder_in": str(folder / "messages"), "data_folder_out": str(folder / "messages"),
            "control_folder": str(folder / "control"),
            "store_processed": False, "processed_folder": str(folder / "processed"),
        })
    return Connection(url, transport_options={"confirm_publish": True}
                      if url.startswith(("amqp", "pyamqp")) else {})


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, UUID, Decimal)):
        return str(value) if not isinstance(value, date) else value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def _aggregate_of(event: Any) -> str:
    return type(event).__qualname__.split(".")[0]


def slug(aggregate: str) -> str:
    return _SLUGS.get(aggregate, aggregate.lower())


def integration_message(position: int, event: Any) -> dict[str, Any]:
    """The public contract of one event (``cobuild.event`` version 1), not its stored form."""
    name = type(event).__name__
    return {
        "schema": f"cobuild.event/{SCHEMA_VERSION}",
        "position": position,
        "type": name,
        "aggregate": slug(_aggregate_of(event)),
        "aggregate_id": str(event.originator_id),
        "aggregate_version": event.originator_version,
        "recorded_at": event.timestamp.isoformat(),
        "occurred_at": _json(getattr(event, "occurred_at", None)),
        "actor": _json(getattr(event, "actor", None)),
        "on_behalf_of": _json(getattr(event, "on_behalf_of", None)),
        "data": {k: _json(v) for k, v in vars(event).items() if k not in _PRIVATE_FIELDS},
    }


def reminder_text(title: Any, due_on: Any, days_before: Any) -> str:
    """The words of a reminder before a due date (the notification, and the 消息 page)."""
    return f"到期提醒：「{title}」将于{due_on}到期（还有{days_before}天），请按期完成。"


def notice_for(message: dict[str, Any]) -> dict[str, Any] | None:
    """The notification (for SMS, mail, the provincial platform) an event calls for, if any."""
    data, kind = message["data"], message["type"]
    base = {"schema": f"cobuild.notification/{SCHEMA_VERSION}", "position": message["position"],
            "subject_id": message["aggregate_id"]}
    if kind == "FollowUpOpened":
        rule = label(FOLLOWUP_REASONS, data["rule"])
        return {**base, "kind": "followup_opened", "organisation_id": data["responsible_id"],
                "text": f"督办提醒：{rule}，请及时处理并反馈。", "rule": data["rule"],
                "severity": data["severity"], "measured": data["measured"]}
    if kind == "FollowUpUpdated":
        return {**base, "kind": "followup_escalated", "text": "督办升级：情况未改善，已转为红色预警。",
                "severity": data["severity"], "measured": data["measured"]}
    if kind == "FollowUpClosed":
        return {**base, "kind": "followup_closed", "resolution": data["resolution"],
                "text": f"督办已办结：{data['reason']}"}
    return None


@dataclass
class RelayStats:
    published: int = 0
    notices: int = 0
    position: int = 0


class RelayPosition:
    """Where the relay (or another publisher, by ``name``) has published up to."""

    def __init__(self, settings: Settings, name: str = RELAY) -> None:
        self.store = SqlStore(settings, "relay", pool_size=1)
        self.name = name

    def get(self) -> int:
        with self.store.read() as cur:
            row = cur.execute("SELECT position FROM relay_position WHERE name = ?",
                              (self.name,)).fetchone()
        return row[0] if row else 0

    def save(self, position: int) -> None:
        with self.store.write() as cur:
            cur.execute("INSERT INTO relay_position (name, position) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                        (self.name, position))

    def close(self) -> None:
        self.store.close()


@schema.step("relay", 1, "the relay's published position")
def _relay_schema(settings: Settings) -> None:
    store = SqlStore(settings, "relay", pool_size=1)
    try:
        store.script("CREATE TABLE IF NOT EXISTS relay_position "
                     "(name TEXT PRIMARY KEY, position BIGINT NOT NULL)")
    finally:
        store.close()


class Relay:
    def __init__(self, engine: EngineCore, connection: Connection, position: RelayPosition,
                 batch_size: int = 200,
                 checkpoint: Callable[[str], None] = lambda where: None,
                 durable_queues: Iterable[Queue] | None = None) -> None:
        self.engine = engine
        self.connection = connection
        self.position = position
        self.batch_size = batch_size
        self.checkpoint = checkpoint
        self._producer = connection.Producer(serializer="json")
        self._declared = False
        self._stop = threading.Event()
        self._queues = list(queues(DEFAULT_CONSUMER) if durable_queues is None else durable_queues)

    def _publish(self, body: dict[str, Any], exchange: Exchange, routing_key: str,
                 message_id: str) -> None:
        self._producer.publish(
            body, exchange=exchange, routing_key=routing_key, message_id=message_id,
            delivery_mode=2, declare=[] if self._declared else [EVENTS, NOTIFICATIONS, *self._queues],
            retry=True, retry_policy={"max_retries": 5, "interval_start": 0,
                                      "interval_step": 0.5, "interval_max": 2})
        self._declared = True

    def run_once(self) -> RelayStats:
        """Publish one batch after the saved position; save the position after it."""
        stats = RelayStats(position=self.position.get())
        notifications = self.engine.recorder.select_notifications(
            start=stats.position, limit=self.batch_size, inclusive_of_start=False)
        for n in notifications:
            event = self.engine.mapper.to_domain_event(n)
            aggregate = _aggregate_of(event)
            if aggregate not in _SKIPPED:
                message = integration_message(n.id, event)
                self._publish(message, EVENTS, f"{message['aggregate']}.{message['type']}", str(n.id))
                stats.published += 1
                notice = self._notice(message, event)
                if notice is not None:
                    self._publish(notice, NOTIFICATIONS, f"{notice['kind']}", f"notice:{n.id}")
                    stats.notices += 1
            stats.position = n.id
            self.checkpoint("published")
        if notifications:
            self.position.save(stats.position)
            self.checkpoint("saved")
        return stats

    def _notice(self, message: dict[str, Any], event: Any) -> dict[str, Any] | None:
        if message["type"] == "TimerFired" and message["data"].get("effect") == "reminded":
            timer: Timer = self.engine.repository.get(event.originator_id,
                                                      version=event.originator_version)
            details = timer.details
            return {"schema": f"cobuild.notification/{SCHEMA_VERSION}", "kind": "reminder",
                    "position": message["position"], "subject_id": str(timer.subject_id),
                    "subject_type": timer.subject_type, "organisation_id": details.get("organisation_id"),
                    "due_on": details.get("due_on"),
                    "text": reminder_text(details.get("title"), details.get("due_on"),
                                          details.get("days_before")),
                    "reminded_on": local_date(event.occurred_at).isoformat()}
        return notice_for(message)

    def run_until_idle(self) -> RelayStats:
        total = RelayStats(position=self.position.get())
        while True:
            stats = self.run_once()
            total.published += stats.published
            total.notices += stats.notices
            if stats.position == total.position:
                return total
            total.position = stats.position

    def run(self, interval: float = 0.5, report: Callable[[RelayStats], None] | None = None,
            say: Callable[[str], None] = log.warning,
            check: Callable[[], None] | None = None) -> None:
        """Publish every ``interval`` seconds until :meth:`stop`; ``check`` (the lease's)
        runs before every round and ends the loop by raising if the role was lost.

        A broker or store outage is ridden out: the batch that failed is published again
        from the saved position once both answer (same message ids: consumers
        de-duplicate), after a backoff that grows to 15 s; ``say`` gets one line when the
        outage starts and one when it ends."""
        def round_() -> None:
            try:
                stats = self.run_until_idle()
            except Exception:
                self._declared = False  # a broker that restarted empty gets them again
                raise
            if report is not None and stats.published:
                report(stats)

        keep_running(round_, self._stop, interval, OutageWatch("relay", say),
                     resumed=lambda: f"publishing from position {self.position.get()}", check=check)

    def stop(self) -> None:
        self._stop.set()


# -- consuming --------------------------------------------------------------------------------

class Inbox:
    """A consumer's record of what it has applied, keyed by message id (its de-duplication).

    Every consumer's inbox is in the one ``consumer`` store, told apart by ``consumer`` (its
    queue name), so a consumer restarted on another host finds what it applied.
    """

    def __init__(self, settings: Settings, consumer: str) -> None:
        self.store = SqlStore(settings, "consumer", pool_size=1)
        self.consumer = consumer

    def apply(self, exchange: str, message_id: str, routing_key: str, body: str) -> bool:
        """Record the message; False if it was applied before (a redelivery)."""
        with self.store.write() as cur:
            # The store's writers take turns, so the next sequence number is ours alone.
            (seq,) = cur.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM consumer_inbox "
                                 "WHERE consumer = ?", (self.consumer,)).one()
            cur.execute("INSERT INTO consumer_inbox (consumer, exchange, message_id, seq, routing_key, "
                        "body) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (consumer, exchange, message_id) DO NOTHING",
                        (self.consumer, exchange, message_id, seq, routing_key, body))
            return cur.rowcount == 1

    def messages(self, exchange: str | None = None) -> list[tuple[str, str, str]]:
        """``(message_id, routing_key, body)`` in the order they were applied."""
        sql = "SELECT message_id, routing_key, body FROM consumer_inbox WHERE consumer = ?"
        params: tuple[str, ...] = (self.consumer,)
        if exchange is not None:
            sql, params = sql + " AND exchange = ?", params + (exchange,)
        with self.store.read() as cur:
            return cur.execute(sql + " ORDER BY seq", params).fetchall()

    def applied(self, exchange: str) -> list[tuple[str, str]]:
        return [(message_id, body) for message_id, _, body in self.messages(exchange)]

    def close(self) -> None:
        self.store.close()


@schema.step("consumer", 1, "the consumers' inboxes (de-duplication by message id)")
def _consumer_schema(settings: Settings) -> None:
    store = SqlStore(settings, "consumer", pool_size=1)
    try:
        store.script("CREATE TABLE IF NOT EXISTS consumer_inbox (consumer TEXT NOT NULL, "
                     "exchange TEXT NOT NULL, message_id TEXT NOT NULL, seq BIGINT NOT NULL, "
                     "routing_key TEXT, body TEXT NOT NULL, "
                     "PRIMARY KEY (consumer, exchange, message_id))")
    finally:
        store.close()


def queues(name: str, events_pattern: str | None = "#", notices: bool = True) -> list[Queue]:
    bound = []
    if events_pattern:
        bound.append(Queue(f"{name}.events", EVENTS, routing_key=events_pattern, durable=True))
    if notices:
        bound.append(Queue(f"{name}.notifications", NOTIFICATIONS, routing_key="#", durable=True))
    return bound


class Consumer(ConsumerMixin):
    """Applies each message once: the inbox insert is the de-duplication, the ack comes after."""

    def __init__(self, connection: Connection, inbox: Inbox, bound: list[Queue],
                 on_applied: Callable[[str, dict[str, Any]], None] | None = None,
                 say: Callable[[str], None] = log.warning) -> None:
        self.connection = connection
        self.inbox = inbox
        self.bound = bound
        self.on_applied = on_applied
        self.applied = 0
        self.duplicates = 0
        # One line when the broker or the inbox's store goes away and one when it is back;
        # kombu reconnects to the broker with its own backoff (``ensure_connection``).
        self.broker = OutageWatch("consumer: broker", say)
        self.store = OutageWatch("consumer: inbox store", say)

    def get_consumers(self, consumer_class: Any, channel: Any) -> list[Any]:
        return [consumer_class(queues=self.bound, accept=["json"], callbacks=[self.on_message],
                               prefetch_count=100)]

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        """Consume until ``should_stop``; a lost broker connection is re-established with
        backoff (kombu's ``ensure_connection``), saying so once, not with a traceback."""
        errors = self.connection.connection_errors + self.connection.channel_errors
        while not self.should_stop:
            try:
                for _ in self.consume(limit=None, **kwargs):
                    pass
            except errors as error:
                # Connected, then lost again: wait before reconnecting, so that a broker
                # that accepts connections and drops them is not hammered.
                deadline = time.monotonic() + self.broker.failed(error)
                while time.monotonic() < deadline and not self.should_stop:
                    time.sleep(0.2)

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        self.broker.failed(exc)

    def on_connection_revived(self) -> None:
        if self.broker.down:
            self.broker.recovered("consuming again")

    def on_message(self, body: dict[str, Any], message: Any) -> None:
        message_id = message.properties.get("message_id") or ""
        routing_key = message.delivery_info.get("routing_key", "")
        exchange = message.delivery_info.get("exchange", "")
        new = self._record(exchange, message_id, routing_key, json.dumps(body, ensure_ascii=False))
        if new is None:
            return  # stopping while the store is away: not acked, so delivered again later
        if new:
            self.applied += 1
            if self.on_applied is not None:
                self.on_applied(message_id, body)
        else:
            self.duplicates += 1
        message.ack()

    def _record(self, exchange: str, message_id: str, routing_key: str, body: str) -> bool | None:
        """:meth:`Inbox.apply`, waiting out an outage of its store (the message stays
        unacknowledged meanwhile, so nothing is lost); None if told to stop first."""
        while True:
            try:
                new = self.inbox.apply(exchange, message_id, routing_key, body)
            except Exception as error:
                if not is_outage(error):
                    raise
                delay = self.store.failed(error)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    if self.should_stop:
                        return None
                    time.sleep(min(0.2, delay))
                continue
            if self.store.down:
                self.store.recovered("applying messages again")
            return new

    def drain(self, timeout: float = 0.2, idle_rounds: int = 2) -> int:
        """Consume until the queues have stayed empty ``idle_rounds`` times (tests, CLI --once)."""
        before, idle = self.applied + self.duplicates, 0
        with self.Consumer() as (connection, channel, consumers):
            while idle < idle_rounds:
                try:
                    connection.drain_events(timeout=timeout)
                    idle = 0
                except TimeoutError:
                    idle += 1
        return self.applied + self.duplicates - before

