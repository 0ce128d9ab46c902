"""Evidence files against the events that name them.

An event records the SHA-256, size and type of each file it carries; the bytes live outside
the event store (``workflows.store.evidence``), so the Merkle log cannot see them change.
This check reads every event that can carry files and re-hashes each file it names: a file
whose bytes no longer match, or that is gone, is a problem named by its digest and by the
record and event that name it.  Each file is hashed once however many events name it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from eventsourcing.utils import get_topic

from domain.commitment import PublicCommitment
from domain.evidence import recorded_evidence
from domain.pairing import Pairing
from domain.task import ServiceTask
from workflows.core import EngineCore
from workflows.store.evidence import fault
from workflows.store.settings import Settings

# Every event class with an ``evidence`` field.
CARRIERS = (Pairing.ActivityRecorded, ServiceTask.DeliveryReported,  # type: ignore[attr-defined]
            PublicCommitment.ProgressReported,  # type: ignore[attr-defined]
            PublicCommitment.FulfilmentClaimed)  # type: ignore[attr-defined]
_PAGE = 1000


@dataclass(frozen=True)
class EvidenceProblem:
    sha256: str
    what: str  # "changed" or "missing"
    event: str
    aggregate_id: str
    version: int
    position: int

    def __str__(self) -> str:
        fault = ("its bytes no longer match their SHA-256" if self.what == "changed"
                 else "the file is missing from the evidence folder")
        return (f"evidence file {self.sha256} named by {self.event} of {self.aggregate_id} "
                f"v{self.version} (notification {self.position}): {fault}")


@dataclass
class EvidenceCheck:
    files: int = 0
    references: int = 0
    problems: list[EvidenceProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return (f"OK: {self.files} evidence file(s) named by {self.references} event "
                    f"reference(s) match their SHA-256")
        return f"EVIDENCE FILES: {len(self.problems)} problem(s); first: {self.problems[0]}"


def check_evidence_files(settings: Settings) -> EvidenceCheck:
    """Re-hash every file an event names (read-only: creates no table)."""
    engine = EngineCore(env=replace(settings, create_tables=False).eventsourcing_env())
    folder = settings.evidence_folder
    verdicts: dict[str, str | None] = {}
    result = EvidenceCheck()
    try:
        for position, event in _carriers(engine):
            for evidence in recorded_evidence(getattr(event, "evidence", None)):
                result.references += 1
                if evidence.sha256 not in verdicts:
                    verdicts[evidence.sha256] = fault(folder, evidence.sha256)
                verdict = verdicts[evidence.sha256]
                if verdict is not None:
                    result.problems.append(EvidenceProblem(
                        evidence.sha256, verdict, type(event).__name__, str(event.originator_id),
                        event.originator_version, position))
    finally:
        engine.close()
    result.files = len(verdicts)
    return result


def _carriers(engine: EngineCore) -> Iterator[tuple[int, Any]]:
    topics = [get_topic(cls) for cls in CARRIERS]
    start = 1
    while True:
        page = engine.recorder.select_notifications(start, _PAGE, topics=topics)
        for notification in page:
            try:
                event = engine.mapper.to_domain_event(notification)
            except (ValueError, KeyError, TypeError):
                continue  # an event row that no longer decodes is the Merkle check's finding
            yield notification.id, event
        if len(page) < _PAGE:
            return
        start = page[-1].id + 1

