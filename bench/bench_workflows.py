"""Workflow figures: timers fired per second; relay messages/s and event→published lag
(p50/p99) on kombu's filesystem transport.

    PYTHONPATH=. python bench/bench_workflows.py [--timers 2000] [--events 3000]

Timers: N tasks are raised (each arms a claim-window timer), the fake clock moves past the
window, and the worker drains: every firing pools a need in its own transaction and the
follower catches up after each.  Relay: a writer thread raises needs (one event each) at a
steady rate while the relay publishes; lag = time the relay handed the message to the
broker minus the event's recorded time.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from domain.task import ServiceTask
from tests.support import Cast
from workflows.store.clock import FakeClock
from workflows.store.settings import Settings
from workflows.engine import open_engine
from workflows.relay import Relay, RelayPosition, broker_connection
from workflows.scheduler import Worker, open_worker_state


def bench_timers(n: int) -> None:
    home = Path(tempfile.mkdtemp()) / "var"
    clock = FakeClock(datetime(2025, 3, 1, 1, tzinfo=timezone.utc))
    engine = open_engine(Settings(home=home), clock)
    cast = Cast.create(engine)
    worker = Worker(engine, open_worker_state(Settings(home=home)))
    for i in range(n):
        engine.commit(ServiceTask.raise_need(engine.attribution(cast.villager), cast.village,
                                             "infrastructure", f"需求{i}"))
    started = time.perf_counter()
    armed = worker.drain()
    arm_s = time.perf_counter() - started
    clock.advance(days=31)
    started = time.perf_counter()
    report = worker.drain()
    fire_s = time.perf_counter() - started
    assert report.fired == n, report
    print(f"timers: armed {n} in {arm_s:.2f}s ({armed.events / arm_s:.0f} events followed/s); "
          f"fired {report.fired} in {fire_s:.2f}s = {report.fired / fire_s:.0f} timers/s "
          f"(each: TimerFired + NeedPooled in one transaction, then follower catch-up)")


def bench_relay(n: int, rate: float) -> None:
    home = Path(tempfile.mkdtemp()) / "var"
    settings = Settings(home=home)
    engine = open_engine(settings)
    cast = Cast.create(engine)
    relay = Relay(engine, broker_connection(settings), RelayPosition(settings))
    relay.run_until_idle()
    lags: list[float] = []
    original = relay._publish

    def timed(body, exchange, routing_key, message_id):
        original(body, exchange, routing_key, message_id)
        if exchange.name == "cobuild.events":
            recorded = datetime.fromisoformat(body["recorded_at"])
            lags.append((datetime.now(timezone.utc) - recorded).total_seconds())

    relay._publish = timed  # type: ignore[method-assign]
    done = threading.Event()

    def writer() -> None:
        gap = 1.0 / rate
        next_at = time.perf_counter()
        for i in range(n):
            engine.commit(ServiceTask.raise_need(engine.attribution(cast.villager), cast.village,
                                                 "infrastructure", f"需求{i}"))
            next_at += gap
            time.sleep(max(0.0, next_at - time.perf_counter()))
        done.set()

    thread = threading.Thread(target=writer)
    started = time.perf_counter()
    thread.start()
    published = 0
    while not done.is_set() or relay.position.get() < engine.recorder.max_notification_id():
        stats = relay.run_once()
        published += stats.published
        if not stats.published:
            time.sleep(0.01)
    elapsed = time.perf_counter() - started
    thread.join()
    lags.sort()
    p50, p99 = statistics.median(lags), lags[int(len(lags) * 0.99) - 1]
    print(f"relay (filesystem transport, writer at {rate:.0f} events/s): published {published} "
          f"in {elapsed:.2f}s; lag p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")

    # raw throughput: a backlog published as fast as the relay can
    backlog = Relay(engine, broker_connection(settings), RelayPosition(settings, "backlog"))
    started = time.perf_counter()
    stats = backlog.run_until_idle()
    elapsed = time.perf_counter() - started
    print(f"relay backlog: {stats.published} messages in {elapsed:.2f}s = "
          f"{stats.published / elapsed:.0f} messages/s (filesystem transport, batch 200)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--timers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    bench_timers(args.timers)
    bench_relay(args.events, args.rate)
