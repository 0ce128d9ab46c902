"""Who signs a store's checkpoints, and one at a time: the store's ``signer`` lease.

The signer checks each new tree head against the last one it signed, so two signers must
never interleave: every signer of a store (``cobuild audit checkpoint`` from cron, the
API's on-demand checkpoint in any process) holds the store's ``signer`` lease
(``workflows.store.leases``) while it reads the head and stores the note.  Each then reads
the head only once the previous one has stored its checkpoint, and the checkpoints of a
store only ever grow.

:class:`CheckpointSigner` is built once per process by the composition root (``api.root``)
from the settings: the key directory ``<COBUILD_HOME>/keys`` and the log's origin.
"""
from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Callable, Iterator

from workflows.audit.checkpoint import DEFAULT_ORIGIN, KeyDirectory, Signer
from workflows.audit.recorder import AuditLog
from workflows.store.leases import AlreadyRunning, Lease, acquire
from workflows.store.settings import Settings

SIGNER_ROLE = "signer"

StoreCheckpoint = Callable[[int, bytes, str], None]


class SignerBusy(Exception):
    """Another signer held the store's lease for longer than this one would wait."""


class CheckpointSigner:
    """Signs the tree heads of the store that ``settings`` name, with the keys in ``keys``."""

    def __init__(self, settings: Settings, keys: KeyDirectory, origin: str | None = None) -> None:
        self.settings = settings
        self.keys = keys
        self.origin = origin or DEFAULT_ORIGIN
        # Requests of one process queue here; processes sharing the key directory queue on
        # its lock file (``_serialised``).
        self._in_process = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> CheckpointSigner:
        return cls(settings, KeyDirectory(settings.keys_folder), settings.audit_origin)

    def lease(self, wait: float) -> Lease:
        """The store's ``signer`` lease, waiting up to ``wait`` seconds for another signer."""
        try:
            return acquire(self.settings, SIGNER_ROLE, wait=wait > 0, timeout=wait or None, poll=0.1)
        except AlreadyRunning as busy:
            waited = f"waited {wait:g} s" if wait > 0 else "did not wait"
            raise SignerBusy(f"{busy}; {waited}, nothing was signed") from None

    def sign(self, log: AuditLog, store: StoreCheckpoint, wait: float) -> str:
        """Sign the current tree head (creating the key on first use) and store the note."""
        with self.lease(wait):
            self.keys.ensure(self.origin)
            return Signer(self.keys, log, store).sign()

    def latest(self, log: AuditLog, store: StoreCheckpoint, wait: float) -> str:
        """The checkpoint of the current tree: the last one signed if the log has not grown
        since, else a new one."""
        with self._serialised():
            self.keys.ensure(self.origin)
            last = self.keys.last_signed()
            if last is not None and last.covers(log.tree_size()):
                return last.note
            with self.lease(wait):
                return Signer(self.keys, log, store).sign()

    def verifier_key(self) -> str:
        """The log's verifier key as evaluators pin it (created with the key on first use)."""
        with self._serialised():
            self.keys.ensure(self.origin)
        return self.keys.vkey_path.read_text(encoding="utf-8")

    @contextlib.contextmanager
    def _serialised(self) -> Iterator[None]:
        self.keys.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._in_process, open(self.keys.path / ".signing.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
