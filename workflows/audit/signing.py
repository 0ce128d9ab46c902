"""Who signs a store's checkpoints, and one at a time: the store's ``signer`` lease.

The signer checks each new tree head against the last one it signed, so two signers must
never interleave: every signer of a store (``cobuild audit checkpoint`` from cron, the
API's on-demand checkpoint in any process) holds the store's ``signer`` lease
(``workflows.store.leases``) while it reads the head and stores the note.  Each then reads
the head only once the previous one has stored its checkpoint, and the checkpoints of a
store only ever grow.

Signers sharing a key directory (the API's processes, ``cobuild audit checkpoint`` on the
same host) also take its lock file, which guards the key's creation and the last signed
state.  Every signer takes the two in one order, the lock file first and then the lease,
and waits for each no longer than it was told to: two signers never hold one each while
waiting for the other.

:class:`CheckpointSigner` is built once per process by the composition root (``api.root``)
from the settings: the key directory ``<COBUILD_HOME>/keys`` and the log's origin.
"""
from __future__ import annotations

import contextlib
import fcntl
import threading
import time
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

    def lease(self, wait: float, told: float | None = None) -> Lease:
        """The store's ``signer`` lease, waiting up to ``wait`` seconds for another signer
        (what is left of the ``told`` seconds the caller would wait in all)."""
        told = wait if told is None else told
        try:
            return acquire(self.settings, SIGNER_ROLE, wait=wait > 0, timeout=wait or None, poll=0.1)
        except AlreadyRunning as busy:
            waited = f"waited {told:g} s" if told > 0 else "did not wait"
            raise SignerBusy(f"{busy}; {waited}, nothing was signed") from None

    def sign(self, log: AuditLog, store: StoreCheckpoint, wait: float) -> str:
        """Sign the current tree head (creating the key on first use) and store the note."""
        deadline = time.monotonic() + wait
        with self._serialised(wait), self.lease(max(0.0, deadline - time.monotonic()), wait):
            self.keys.ensure(self.origin)
            return Signer(self.keys, log, store).sign()

    def latest(self, log: AuditLog, store: StoreCheckpoint, wait: float) -> str:
        """The checkpoint of the current tree: the last one signed if the log has not grown
        since, else a new one."""
        deadline = time.monotonic() + wait
        with self._serialised(wait):
            self.keys.ensure(self.origin)
            last = self.keys.last_signed()
            if last is not None and last.covers(log.tree_size()):
                return last.note
            with self.lease(max(0.0, deadline - time.monotonic()), wait):
                return Signer(self.keys, log, store).sign()

    def verifier_key(self) -> str:
        """The log's verifier key as evaluators pin it (created with the key on first use)."""
        with self._serialised():
            self.keys.ensure(self.origin)
        return self.keys.vkey_path.read_text(encoding="utf-8")

    @contextlib.contextmanager
    def _serialised(self, wait: float | None = None) -> Iterator[None]:
        """The key directory's lock, for this process's threads and for other processes;
        waiting up to ``wait`` seconds (None: as long as it takes)."""
        self.keys.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        deadline = None if wait is None else time.monotonic() + wait
        if not self._in_process.acquire(timeout=-1 if deadline is None else max(0.0, wait or 0.0)):
            raise self._busy(wait)
        try:
            with open(self.keys.path / ".signing.lock", "w") as lock:
                while True:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                        break
                    except BlockingIOError:  # only without blocking: a deadline was set
                        if deadline is None or time.monotonic() >= deadline:
                            raise self._busy(wait) from None
                        time.sleep(0.05)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        finally:
            self._in_process.release()

    @staticmethod
    def _busy(wait: float | None) -> SignerBusy:
        waited = f"waited {wait:g} s" if wait else "did not wait"
        return SignerBusy(f"another signer is using the signing key; {waited}, nothing was signed")
