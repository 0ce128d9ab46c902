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
    pass


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
        engine, cast, broker, tmp_path):
    inbox = Inbox(tmp_path / "inbox.sqlite")
    consumer = bound_consumer(broker, inbox)
    position = RelayPosition(tmp_path / "relay.sqlite")
    last = engine.recorder.max_notification_id()

    def crash_after_publishing(where: str) -> None:
        if where == "published":
            raise Crash(where)

    crashing = Relay(engine, Connection(broker), position, checkpoint=crash_after_publishing)
    with pytest.raises(Crash):
        crashing.run_once()
    assert position.get() == 0  # published message 1, never saved that it did

    relay = Relay(engine, Connection(broker), RelayPosition(tmp_path / "relay.sqlite"))
    stats = relay.run_until_idle()
    assert stats.position == last
    consumer.drain()
    assert consumer.duplicates == 1  # message 1 came twice ...
    events = [mid for mid, _ in inbox.applied("cobuild.events")]
    assert events.count("1") == 1    # ... and was applied once
    assert relay.run_until_idle().published == 0


def test_messages_are_versioned_json_with_topic_routing(engine, cast, broker, tmp_path):
    pairing_id = cast.pairing_in_force()
    inbox = Inbox(tmp_path / "inbox.sqlite")
    consumer = Consumer(Connection(broker), inbox, queues("pairings", events_pattern="pairing.*",
                                                          notices=False))
    with consumer.Consumer():
        pass
    Relay(engine, Connection(broker), RelayPosition(tmp_path / "relay.sqlite")).run_until_idle()
    consumer.drain()
    applied = inbox._conn.execute("SELECT message_id, routing_key, body FROM applied").fetchall()
    assert [rk for _, rk, _ in applied] == ["pairing.PairingProposed", "pairing.PairingAccepted",
                                            "pairing.AgreementSigned", "pairing.AgreementSigned"]
    message_id, _, body = applied[-1]
    message = json.loads(body)
    assert message["schema"] == "cobuild.event/1"
    assert message["position"] == int(message_id)
    assert message["aggregate_id"] == str(pairing_id) and message["aggregate_version"] == 4
    assert message["data"]["side"] == "receiver"
    assert message["actor"]["role"] == "village"


def test_access_tokens_never_leave_the_store(engine, cast, broker, tmp_path):
    inbox = Inbox(tmp_path / "inbox.sqlite")
    consumer = bound_consumer(broker, inbox)
    stats = Relay(engine, Connection(broker), RelayPosition(tmp_path / "relay.sqlite")).run_until_idle()
    consumer.drain()
    tokens = [n.id for n in engine.recorder.select_notifications(start=1, limit=1000)
              if ":AccessToken." in n.topic]
    assert tokens and stats.position == engine.recorder.max_notification_id()
    keys = [rk for (rk,) in inbox._conn.execute("SELECT routing_key FROM applied")]
    assert len(keys) == stats.position - len(tokens)
    assert not [k for k in keys if k.startswith("access_token.")]


def test_filesystem_transport_carries_messages_across_processes(engine, cast, settings, tmp_path):
    """The default broker: a relay in this process, a consumer in another one."""
    inbox_path = tmp_path / "inbox.sqlite"
    consumer = bound_consumer(broker_connection(settings), Inbox(inbox_path))
    del consumer
    relay = Relay(engine, broker_connection(settings), RelayPosition(tmp_path / "relay.sqlite"))
    published = relay.run_until_idle().published
    script = textwrap.dedent(f"""
        from pathlib import Path
        from workflows.config import Settings
        from workflows.relay import Consumer, Inbox, broker_connection, queues
        settings = Settings(home=Path({str(settings.home)!r}))
        consumer = Consumer(broker_connection(settings), Inbox({str(inbox_path)!r}), queues("gateway"))
        consumer.drain(timeout=0.5)
        print(consumer.applied)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert int(out.stdout.strip()) == published
