"""The composition root: the one module that knows every part of cobuild.

Importing a store registers its schema steps (``workflows.store.schema.step``), so every
entry point that creates or upgrades the schema (``cobuild init``/``migrate``, the servers)
imports this module first and the schema it applies is always complete.
"""
from __future__ import annotations

from api.http import idempotency
from projections import store as projection_store
from workflows import core, relay, scheduler

STORES = (core, idempotency, relay, scheduler, projection_store)
