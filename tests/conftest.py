"""Shared fixtures: a real engine on a fresh store, a fake clock, and a cast of users.

The store is SQLite in a temporary folder unless ``COBUILD_TEST_DATABASE_URL`` names a
PostgreSQL database, in which case the same tests run against it (each test gets its own
freshly created database).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.support import Cast, fresh_settings
from workflows.store.clock import FakeClock
from workflows.engine import Engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc))


@pytest.fixture
def settings(tmp_path: Path):
    with fresh_settings(tmp_path, os.environ.get("COBUILD_TEST_DATABASE_URL", "")) as s:
        yield s


@pytest.fixture
def engine(settings, clock) -> Engine:
    from workflows.engine import open_engine

    eng = open_engine(settings, clock)
    yield eng
    eng.close()


@pytest.fixture
def cast(engine: Engine) -> Cast:
    return Cast.create(engine)


# -- the HTTP API's worlds: built once per module from templates, opened per test ------------

@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    from tests.api_support import API_START, WorldTemplates

    return WorldTemplates(tmp_path_factory.mktemp("worlds"), API_START)


@pytest.fixture(scope="module")
def app(templates, tmp_path_factory):
    from api.app import create_app
    from api.root import Root

    engine, settings, _, _ = templates.open("none", tmp_path_factory.mktemp("app") / "var")
    yield create_app(Root(settings, engine))
    engine.close()


def pytest_collection_modifyitems(config, items):
    # Chromium's driver now and then answers "node does not belong to the document" while a
    # page is being replaced on a loaded machine; a journey that fails that way runs again
    # (at most four times).  Any other failure of a browser test fails at once.
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.flaky(reruns=4, only_rerun=["WebDriverException",
                                                                  "StaleElementReference",
                                                                  "does not belong to the document"]))
