"""Settings from the environment: where the data lives and which database and broker to use.

``COBUILD_HOME`` (default ``./var``) holds the embedded SQLite files, the filesystem broker
and the signing keys.  ``COBUILD_DATABASE_URL`` selects PostgreSQL with a ``postgresql://``
URL; ``COBUILD_BROKER_URL`` selects the broker (kombu URL).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlparse


class ConfigurationError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str = ""
    broker_url: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        environ = os.environ if environ is None else environ
        home = Path(environ.get("COBUILD_HOME") or "var").resolve()
        return cls(
            home=home,
            database_url=environ.get("COBUILD_DATABASE_URL", ""),
            broker_url=environ.get("COBUILD_BROKER_URL", ""),
        )

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def event_store_path(self) -> Path:
        return self.home / "events.sqlite"

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    def eventsourcing_env(self) -> dict[str, str]:
        """The ``eventsourcing`` settings for the engine's event store."""
        if self.is_postgres:
            env = postgres_env(self.database_url)
        elif self.database_url and not self.database_url.startswith("sqlite:"):
            raise ConfigurationError(
                f"COBUILD_DATABASE_URL must be postgresql://... or sqlite:///PATH, not {self.database_url!r}")
        else:
            path = self.database_url[len("sqlite:///"):] if self.database_url else str(self.event_store_path)
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30",
                # The verifiable log: Merkle leaves written in the events' own transaction.
                "APPLICATION_RECORDER_TOPIC": "projections.audit_log:AuditedSQLiteApplicationRecorder",
            }
        env.update(self.extra_env)
        return env

    def ensure_home(self) -> None:
        if not self.is_postgres or not self.database_url:
            self.home.mkdir(parents=True, exist_ok=True)


def postgres_env(url: str) -> dict[str, str]:
    parts = urlparse(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise ConfigurationError("COBUILD_DATABASE_URL needs a host and a database name")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }
