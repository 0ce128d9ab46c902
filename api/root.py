"""The composition root: the one place that reads the settings and builds cobuild's parts.

Every entry point starts here: the HTTP API and the pages (``api.app.create_app(root)``), the WSGI
module for production servers, the ``serve`` host and each ``cobuild`` command
(``api.cli.common.root``).  :meth:`Root.from_env` reads the environment, once;
the parts are built on first use, so a command that needs only the settings (``cobuild
migrate``) opens no engine.

Importing a store registers its schema steps (``workflows.store.schema.step``), so every
entry point that creates or upgrades the schema (``cobuild init``/``migrate``, the servers)
imports this module first and the schema it applies is always complete.
"""
from __future__ import annotations

import functools
from typing import Callable

from api import idempotency
from api.idempotency import IdempotencyStore
from projections import messages as message_store
from projections.messages import ReadMarks
from projections import store as projection_store
from projections.history import HistoryReader
from projections.queries import ReportQueries
from projections.runner import ProjectionRunner, open_runner
from workflows import engine as engine_module
from workflows import relay, scheduler
from workflows.audit.signing import CheckpointSigner
from workflows.engine import Engine, open_engine
from workflows.store.clock import Clock
from workflows.store.settings import Settings

STORES = (engine_module, idempotency, relay, scheduler, projection_store, message_store)


class Root:
    """cobuild's parts for one process, built from complete settings.

    ``engine`` may be handed in (tests, and the generator's own engine); the root then
    leaves closing it to whoever opened it."""

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self._clock = clock
        self._given_engine = engine
        self._closers: list[Callable[[], None]] = []

    @classmethod
    def from_env(cls) -> Root:
        """The settings of this process, from its environment (the only place that reads it)."""
        return cls(Settings.from_env())

    @functools.cached_property
    def engine(self) -> Engine:
        if self._given_engine is not None:
            return self._given_engine
        engine = open_engine(self.settings, self._clock)
        self._closers.append(engine.close)
        return engine

    @functools.cached_property
    def projections(self) -> ProjectionRunner:
        """The read models' runner over this engine's log."""
        runner = open_runner(self.engine, self.settings)
        self._closers.append(runner.db.close)
        return runner

    @functools.cached_property
    def reports(self) -> ReportQueries:
        """The reports, as the JSON API and the CLI ask for them."""
        return ReportQueries(self.projections, self.engine)

    @functools.cached_property
    def history(self) -> HistoryReader:
        """An aggregate's events with their log positions (the audit history)."""
        return HistoryReader(self.engine)

    @functools.cached_property
    def idempotency(self) -> IdempotencyStore:
        self.settings.ensure_home()
        store = IdempotencyStore(self.settings, self.engine.clock)
        self._closers.append(store.close)
        return store

    @functools.cached_property
    def read_marks(self) -> ReadMarks:
        """How far each person has read their messages (消息)."""
        marks = ReadMarks(self.settings)
        self._closers.append(marks.close)
        return marks

    @functools.cached_property
    def signer(self) -> CheckpointSigner:
        """The signer of this store's checkpoints (keys in ``<COBUILD_HOME>/keys``)."""
        return CheckpointSigner.for_settings(self.settings)

    def open_all(self) -> Root:
        """Build every part now, as a server does before its first request: a store that
        cannot be opened fails the start, and request threads never race to build a part."""
        _ = (self.engine, self.idempotency, self.projections, self.reports, self.history,
             self.read_marks, self.signer)
        return self

    def close(self) -> None:
        """Close what this root opened, the engine last (the stores read through it)."""
        while self._closers:
            self._closers.pop()()
