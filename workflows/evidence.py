"""Evidence files as the engine sees them: who may store one, attach one, read one.

- Storing: a user who records facts for an organisation (agency, village) or on one's
  behalf (admin, supervisor); an evaluator never adds to the record.
- Attaching: a command names files by SHA-256; each must be stored and readable by the
  actor, else the command is refused (422) and nothing is written.  The record is noted as
  referring to the files before its events are saved, so its readers can read them as soon
  as they can read it; a command refused at the save leaves a note naming a record its
  actor could act on, disclosing the file to nobody the actor was not showing it to.
- Reading: the uploader, and whoever may see a record that refers to the file; to anyone
  else the file does not exist (404, the same answer as for an unknown digest).
"""
from __future__ import annotations

from typing import Any, BinaryIO, Sequence

from eventsourcing.application import AggregateNotFoundError

from domain.base import Actor
from domain.errors import InvalidValue
from domain.evidence import Evidence, check_digest
from workflows.authorisation import may_see, require_role
from workflows.core import EngineCore
from workflows.errors import NotFound
from workflows.store.evidence import EvidenceStore

UPLOADERS = ("agency", "village", "admin", "supervisor")


class EvidenceCommands(EngineCore):
    # Set by ``open_engine``; an engine built without a data folder keeps no files.
    evidence_store: EvidenceStore | None = None

    def store_evidence(self, actor: Actor, data: bytes) -> Evidence:
        """Keep an uploaded photo or PDF; the same bytes are kept once."""
        require_role(actor, "evidence-uploaders", *UPLOADERS)
        return self._evidence_store().put(data, uploaded_by=actor.user_id)

    def read_evidence(self, actor: Actor, sha256: str) -> tuple[Evidence, BinaryIO]:
        """The file and its bytes, for the uploader and the readers of a record naming it."""
        store = self._evidence_store()
        evidence = store.get(sha256) if _is_digest(sha256) else None
        if evidence is None or not self._may_read_evidence(actor, evidence):
            raise NotFound("evidence file", sha256)
        try:
            return evidence, store.open(evidence.sha256)
        except FileNotFoundError:
            raise NotFound("evidence file", sha256) from None

    def attached_evidence(self, actor: Actor, files: Sequence[str]) -> list[Evidence]:
        """The stored files a command names (each must be one the actor may read)."""
        if not files:
            return []
        store = self.evidence_store
        found = []
        for sha256 in dict.fromkeys(files):
            evidence = store.get(sha256) if store is not None and _is_digest(sha256) else None
            if evidence is None or not self._may_read_evidence(actor, evidence):
                raise InvalidValue("evidence", f"no stored file {str(sha256)[:64]}: upload it "
                                               f"first (POST /api/v1/evidence)")
            found.append(evidence)
        return found

    def refer_to_evidence(self, record: Any, files: list[Evidence]) -> None:
        if files:
            self._evidence_store().refer(record.id, files)

    def _may_read_evidence(self, actor: Actor, evidence: Evidence) -> bool:
        store = self._evidence_store()
        if store.uploaded_by(evidence.sha256, actor.user_id):
            return True
        for record_id in store.references(evidence.sha256):
            try:
                record: Any = self.repository.get(record_id)
            except AggregateNotFoundError:  # a command refused at the save
                continue
            parties = self.parties(record)
            if parties and may_see(actor, *parties):
                return True
        return False

    def _evidence_store(self) -> EvidenceStore:
        if self.evidence_store is None:
            raise NotFound("evidence store", "(this engine keeps no files)")
        return self.evidence_store

    def close(self) -> None:
        if self.evidence_store is not None:
            self.evidence_store.close()
        super().close()


def _is_digest(value: Any) -> bool:
    try:
        check_digest(value)
    except InvalidValue:
        return False
    return True
