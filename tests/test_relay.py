"""The relay publishes at least once and resumes after a crash; the consumer applies once."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from kombu import Connection
from kombu.transport import memory

from workflows.relay import (
    Consumer, Inbox, Relay, RelayPosition, broker_connection, queues,
)


class Crash(BaseException):
    """A process dying between two steps (not an Exception, so nothing catches it)."""


@pytest.fixture
def opened():
    """Positions and inboxes a test opens, closed after it (a pool left to the collector
    warns on PostgreSQL)."""
    stores = []
    yield stores
    for store in stores:
        store.close()


@pytest.fixture
def positions(settings, opened):
    def position(name: str = "relay") -> RelayPosition:
        opened.append(RelayPosition(settings, name))
        return opened[-1]
    return position


@pytest.fixture
def inboxes(settings, opened):
    def inbox(name: str = "gateway") -> Inbox:
        opened.append(Inbox(settings, name))
        return opened[-1]
    return inbox


@pytest.fixture
def broker():
    yield "memory://"
    memory.Channel.queues.clear()
    memory.Transport.global_state.clear()


def bound_consumer(url_or_connection, inbox: Inbox, name: str = "gateway") -> Consumer:
    conn = url_or_connection if isinstance(url_or_connection, Connection) else Connection(url_or_connection)
    consumer = Consumer(conn, inbox, queues(name))
    with consumer.Consumer():
        pass  # declare and bind before the relay publishes
    return consumer


def test_crash_between_publishing_and_saving_republishes_and_the_consumer_applies_once(
        engine, cast, broker, positions, inboxes):
    inbox = inboxes()
    consumer = bound_consumer(broker, inbox)
    position = positions()
    last = engine.recorder.max_notification_id()

    def crash_after_publishing(where: str) -> None:
        if where == "published":
            raise Crash(where)

    crashing = Relay(engine, Connection(broker), position, checkpoint=crash_after_publishing)
    with pytest.raises(Crash):
        crashing.run_once()
    assert position.get() == 0  # published message 1, never saved that it did

    relay = Relay(engine, Connection(broker), positions())
    stats = relay.run_until_idle()
    assert stats.position == last
    consumer.drain()
    assert consumer.duplicates == 1  # message 1 came twice ...
    events = [mid for mid, _ in inbox.applied("cobuild.events")]
    assert events.count("1") == 1    # ... and was applied once
    assert relay.run_until_idle().published == 0


def test_messages_are_versioned_json_with_topic_routing(
        engine, cast, broker, settings, positions, inboxes):
    pairing_id = cast.pairing_in_force()
    inbox = inboxes()
    consumer = Consumer(Connection(broker), inbox, queues("pairings", events_pattern="pairing.*",
                                                          notices=False))
    with consumer.Consumer():
        pass
    Relay(engine, Connection(broker), positions()).run_until_idle()
    consumer.drain()
    applied = inbox.messages()
    assert [rk for _, rk, _ in applied] == ["pairing.PairingProposed", "pairing.PairingAccepted",
                                            "pairing.AgreementSigned", "pairing.AgreementSigned"]
    message_id, _, body = applied[-1]
    message = json.loads(body)
    assert message["schema"] == "cobuild.event/1"
    assert message["position"] == int(message_id)
    assert message["aggregate_id"] == str(pairing_id) and message["aggregate_version"] == 4
    assert message["data"]["side"] == "receiver"
    assert message["actor"]["role"] == "village"


def test_access_tokens_never_leave_the_store(
        engine, cast, broker, settings, positions, inboxes):
    inbox = inboxes()
    consumer = bound_consumer(broker, inbox)
    stats = Relay(engine, Connection(broker), positions()).run_until_idle()
    consumer.drain()
    tokens = [n.id for n in engine.recorder.select_notifications(start=1, limit=1000)
              if ":AccessToken." in n.topic]
    assert tokens and stats.position == engine.recorder.max_notification_id()
    keys = [rk for _, rk, _ in inbox.messages()]
    assert len(keys) == stats.position - len(tokens)
    assert not [k for k in keys if k.startswith("access_token.")]


def test_filesystem_transport_carries_messages_across_processes(
        engine, cast, settings, positions, inboxes):
    """The default broker: a relay in this process, a consumer in another one."""
    consumer = bound_consumer(broker_connection(settings), inboxes())
    del consumer
    relay = Relay(engine, broker_connection(settings), positions())
    published = relay.run_until_idle().published
    script = textwrap.dedent(f"""
        from workflows.store.settings import Settings
        from workflows.relay import Consumer, Inbox, broker_connection, queues
        settings = Settings.from_env({settings.environ()!r})
        consumer = Consumer(broker_connection(settings), Inbox(settings, "gateway"), queues("gateway"))
        consumer.drain(timeout=0.5)
        print(consumer.applied)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert int(out.stdout.strip()) == published


def test_position_and_inbox_live_in_the_deployments_database(
        engine, cast, broker, settings, positions, inboxes):
    """A relay or consumer restarted (on PostgreSQL: on any host) resumes from the store."""
    inbox = inboxes()
    consumer = bound_consumer(broker, inbox)
    last = Relay(engine, Connection(broker), positions()).run_until_idle().position
    consumer.drain()
    assert positions().get() == last
    assert positions("another-publisher").get() == 0
    restarted = inboxes()
    assert len(restarted.messages()) == len(inbox.messages()) > 0
    assert not restarted.apply("cobuild.events", "1", "x", "{}")  # still a duplicate
    assert inboxes("other-consumer").apply("cobuild.events", "1", "x", "{}")
    home_files = {p.name for p in settings.home.glob("*.sqlite")}
    assert ({"relay.sqlite", "consumer.sqlite"} & home_files) == (
        set() if settings.is_postgres else {"relay.sqlite", "consumer.sqlite"})


def test_consumers_racing_on_one_message_apply_it_once(settings, engine, inboxes):
    import threading

    racers = [inboxes() for _ in range(6)]
    gate = threading.Barrier(len(racers))
    results = []

    def apply(inbox):
        gate.wait()
        results.append(inbox.apply("cobuild.events", "42", "pairing.PairingProposed", "{}"))

    threads = [threading.Thread(target=apply, args=(i,)) for i in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
