"""The evaluation round's scorer: the evaluation report over the fact store, brought up to
date with the event log first (``workflows.evaluations.Scorer``)."""
from __future__ import annotations

from datetime import date
from typing import Any

from projections.reports import Window, evaluation_report
from domain.pairing_rules import Thresholds
from projections.runner import ProjectionRunner
from workflows.store.clock import Clock, SystemClock


class ProjectionScorer:
    """Scores a year from the projections, as known at the moment it is asked.

    ``known_at`` is taken from the recording clock *before* catching up, so every fact the
    snapshot could see is applied, and the same window asked again later reads the same facts.
    """

    def __init__(self, runner: ProjectionRunner, recording_clock: Clock | None = None) -> None:
        self.runner = runner
        self.recording_clock = recording_clock or SystemClock()

    def __call__(self, year: int, region: str, rules: Thresholds, as_of: date) -> dict[str, Any]:
        known_at = self.recording_clock.now()
        self.runner.catch_up()
        return evaluation_report(self.runner.db, year, Window(as_of, known_at), rules,
                                 region=region)
