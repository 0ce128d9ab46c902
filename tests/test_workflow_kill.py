"""The year again with the worker killed at random points and restarted from its files:
exactly the same events, no timer lost or doubled."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.support import fresh_settings
from tests.workflow_support import normalised_log, play_year
from workflows.store.clock import FakeClock
from workflows.engine import open_engine
from workflows.scheduler import Worker, open_worker_state


class Killed(BaseException):
    """A kill: not an Exception, so nothing in the worker can catch it and carry on."""


def run_year(home: Path, kill_rate: float, seed: int) -> tuple[list, int]:
    clock = FakeClock(datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc))
    with fresh_settings(home) as settings:
        engine = open_engine(settings, clock)
        chance = random.Random(seed)
        kills = 0

        def checkpoint(where: str) -> None:
            if chance.random() < kill_rate:
                raise Killed(where)

        def start() -> Worker:
            return Worker(engine, open_worker_state(settings), checkpoint=checkpoint)

        worker = start()

        def drain() -> None:
            nonlocal worker, kills
            while True:
                try:
                    worker.drain()
                    return
                except Killed:
                    kills += 1
                    worker.state.close()  # the process is gone; a new one opens the files
                    worker = start()

        play_year(engine, clock, drain)
        log = normalised_log(engine)
        engine.close()
        return log, kills


@pytest.mark.parametrize("seed", [1, 2])
def test_killed_worker_produces_exactly_the_same_events(tmp_path, seed):
    calm, none = run_year(tmp_path / "calm", kill_rate=0.0, seed=seed)
    killed, kills = run_year(tmp_path / "killed", kill_rate=0.1, seed=seed)
    assert none == 0 and kills > 30
    assert len(killed) == len(calm)
    assert killed == calm
