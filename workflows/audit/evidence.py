"""Evidence files checked against their names: a kept photo or PDF whose bytes no longer
hash to the SHA-256 the events recorded is tampered evidence (``cobuild audit verify``)."""
from __future__ import annotations

from pathlib import Path

from workflows.store.evidence import EvidenceStore


def evidence_problems(home: Path) -> list[str]:
    """One line per evidence file under ``home`` whose bytes do not match its hash."""
    return [f"TAMPERED: evidence file {sha[:2]}/{sha[2:]}: its bytes no longer match its SHA-256"
            for sha in EvidenceStore(home).mismatched()]
