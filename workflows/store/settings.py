"""Settings from the environment: where the data lives and which database and broker to use.

``COBUILD_HOME`` (default ``./var``) holds the embedded SQLite files, the filesystem broker
and the signing keys.  ``COBUILD_DATABASE_URL`` selects PostgreSQL with a ``postgresql://``
URL; ``COBUILD_BROKER_URL`` selects the broker (kombu URL).  ``COBUILD_AUDIT_ORIGIN`` names
the verifiable log in its checkpoints; ``COBUILD_BOOTSTRAP_TOKEN`` is the first admin's token
on a fresh data folder (default: a random one).

:meth:`Settings.from_env` is the only reader of these variables; it is called once per
process, by the composition root (``api.root``), and everything else is handed the result.

On PostgreSQL the pool and lock settings of ``eventsourcing.postgres`` can be tuned with its
own variables (``POSTGRES_POOL_SIZE``, ``POSTGRES_MAX_OVERFLOW``, ``POSTGRES_LOCK_TIMEOUT`` ...),
and TLS with libpq's (``PGSSLMODE``, ``PGSSLROOTCERT``): both are read from the environment.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlparse


class ConfigurationError(ValueError):
    """A setting cobuild cannot use (a database or broker URL it would misread)."""


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str = ""
    broker_url: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Whether constructing the engine may create its tables.  Processes that start
    # side by side on PostgreSQL must not (their CREATE statements race); they run with
    # this off once ``workflows.store.schema`` has created the schema.
    create_tables: bool = True
    # The origin line of the log's checkpoints (None: ``workflows.audit.checkpoint``'s default).
    audit_origin: str | None = None
    # The first admin's token on a fresh data folder (None: a random one).
    bootstrap_token: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        environ = os.environ if environ is None else environ
        home = Path(environ.get("COBUILD_HOME") or "var").resolve()
        return cls(
            home=home,
            database_url=environ.get("COBUILD_DATABASE_URL", ""),
            broker_url=environ.get("COBUILD_BROKER_URL", ""),
            audit_origin=environ.get("COBUILD_AUDIT_ORIGIN") or None,
            bootstrap_token=environ.get("COBUILD_BOOTSTRAP_TOKEN") or None,
        )

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def is_sqlite(self) -> bool:
        return not self.is_postgres

    @property
    def event_store_path(self) -> Path:
        return self.home / "events.sqlite"

    @property
    def sqlite_path(self) -> Path:
        """The embedded event store's file (``sqlite:///PATH`` or the one in the data folder)."""
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url[len("sqlite:///"):])
        return self.event_store_path

    @property
    def event_store(self) -> Path | str:
        """The event store as the audit tools open it: the PostgreSQL URL or the SQLite file."""
        return self.database_url if self.is_postgres else self.sqlite_path

    @property
    def keys_folder(self) -> Path:
        """The log's signing key, verifier key and signer state."""
        return self.home / "keys"

    @property
    def effective_broker_url(self) -> str:
        url = self.broker_url or "filesystem://"
        if not url.startswith(BROKER_SCHEMES):
            raise ConfigurationError(
                f"COBUILD_BROKER_URL must start with one of {', '.join(BROKER_SCHEMES)}, not {url!r}")
        return url

    @property
    def broker_folder(self) -> Path:
        return self.home / "broker"

    def broker_transport_options(self) -> dict[str, object]:
        """kombu ``transport_options`` for the configured broker."""
        url = self.effective_broker_url
        if url.startswith("filesystem:"):
            folder = str(self.broker_folder)
            return {"data_folder_in": folder, "data_folder_out": folder,
                    "control_folder": str(self.broker_folder / "control")}
        if url.startswith(("amqp", "pyamqp")):
            # A message the broker did not take raises instead of vanishing, so the relay
            # advances its position only past messages RabbitMQ has accepted.
            return {"confirm_publish": True}
        return {}

    def environ(self) -> dict[str, str]:
        """The ``COBUILD_*`` variables that give another process these settings."""
        env = {"COBUILD_HOME": str(self.home)}
        if self.database_url:
            env["COBUILD_DATABASE_URL"] = self.database_url
        if self.broker_url:
            env["COBUILD_BROKER_URL"] = self.broker_url
        if self.audit_origin:
            env["COBUILD_AUDIT_ORIGIN"] = self.audit_origin
        return env

    def eventsourcing_env(self) -> dict[str, str]:
        """The ``eventsourcing`` settings for the engine's event store."""
        if self.is_postgres:
            env = postgres_env(self.database_url)
        elif self.database_url and not self.database_url.startswith("sqlite:"):
            raise ConfigurationError(
                f"COBUILD_DATABASE_URL must be postgresql://... or sqlite:///PATH, not {self.database_url!r}")
        else:
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        env["CREATE_TABLE"] = "y" if self.create_tables else "n"
        env.update(self.extra_env)
        return env

    def ensure_home(self) -> None:
        """The data folder: SQLite files, the filesystem broker, lock files, signing keys."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.effective_broker_url.startswith("filesystem:"):
            (self.broker_folder / "control").mkdir(parents=True, exist_ok=True)


BROKER_SCHEMES = ("filesystem://", "memory://", "amqp://", "amqps://", "pyamqp://")


def postgres_env(url: str) -> dict[str, str]:
    parts = urlparse(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise ConfigurationError("COBUILD_DATABASE_URL needs a host and a database name")
    if parts.query:
        # eventsourcing.postgres takes host, port, user, password and name only; anything
        # else in the URL would be silently dropped, so say where it goes instead.
        raise ConfigurationError(
            "COBUILD_DATABASE_URL takes no ?options; set libpq's variables instead "
            "(PGSSLMODE, PGSSLROOTCERT, PGAPPNAME ...)")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }
