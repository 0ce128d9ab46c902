"""The reports as the entry points ask for them: one service for the JSON API and the CLI.

An entry point translates its input (query string, command-line options) into a
:class:`Query`, decides who may see what (the API's scope rules), and formats the answer;
what a report reads and how it pages is here and in ``projections.reports``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from domain.pairing_rules import Thresholds
from projections import reports
from projections.reports import ReportError, Window
from projections.runner import ProjectionRunner
from workflows.core import EngineCore

Answer = dict[str, Any]


@dataclass(frozen=True)
class Query:
    """What a report is asked for: the window, the rules, the scope and the page."""

    window: Window
    rules: Thresholds
    region: str | None = None
    organisation: str | None = None
    status: str | None = None
    year: int | None = None
    cursor: str | None = None
    limit: int | None = None  # None: the report's own page size

    def paging(self) -> dict[str, Any]:
        return {"cursor": self.cursor, **({"limit": self.limit} if self.limit else {})}


class ReportQueries:
    """Every report by name, read from the projections of one engine's log."""

    def __init__(self, runner: ProjectionRunner, engine: EngineCore) -> None:
        self.runner = runner
        self.engine = engine
        self.by_name: dict[str, Callable[[Query], Answer]] = {
            "pairings": self.pairings, "inactive": self.inactive,
            "commitments": self.commitments, "tasks": self.tasks, "coverage": self.coverage,
            "evaluation": self.evaluation, "inbox": self.inbox, "followups": self.followups,
        }

    # -- before a report ------------------------------------------------------------------

    def caught_up(self) -> int:
        """Apply the log up to its head as it is now (read-your-writes); returns that head."""
        head = self.runner.head()
        if self.runner.position() < head:
            self.runner.catch_up()
        return head

    def rules(self) -> Thresholds:
        """The rule set in force; every report names its version."""
        return Thresholds.from_published(self.engine.current_rules())

    def organisation_id(self, code_or_id: str) -> str | None:
        """The id of the organisation with this code or id, if the projections know one."""
        with reports.open_facts(self.runner.db) as facts:
            found = facts.rows("SELECT id FROM {p}org WHERE code = ? OR id = ?",
                               (code_or_id, code_or_id))
        return found[0][0] if found else None

    def organisation_name(self, organisation_id: str) -> str:
        """The name the projections know for an organisation (its id if none)."""
        names = reports.organisation_names(self.runner.db, [organisation_id])
        return names.get(organisation_id, organisation_id)

    # -- the reports ------------------------------------------------------------------------

    def run(self, name: str, query: Query) -> Answer:
        try:
            report = self.by_name[name]
        except KeyError:
            raise ReportError(f"there is no report named {name!r}") from None
        return report(query)

    def pairings(self, q: Query) -> Answer:
        return reports.pairings_report(self.runner.db, q.window, q.rules, region=q.region,
                                       organisation=q.organisation, status=q.status,
                                       **q.paging())

    def inactive(self, q: Query) -> Answer:
        return reports.inactive_report(self.runner.db, q.window, q.rules, region=q.region,
                                       organisation=q.organisation, **q.paging())

    def commitments(self, q: Query) -> Answer:
        return reports.commitments_report(self.runner.db, q.window, region=q.region,
                                          organisation=q.organisation, **q.paging())

    def tasks(self, q: Query) -> Answer:
        return reports.tasks_report(self.runner.db, q.window, region=q.region,
                                    organisation=q.organisation, **q.paging())

    def coverage(self, q: Query) -> Answer:
        return reports.coverage_report(self.runner.db, q.window, q.rules, region=q.region)

    def followups(self, q: Query) -> Answer:
        return reports.followups_report(self.runner.db, q.window, region=q.region,
                                        **q.paging())

    def evaluation(self, q: Query) -> Answer:
        """The year's scores; the pairings paged when a page size is asked for, the
        organisations' summary always of the whole scope."""
        year = q.year or q.window.as_of.year
        result = reports.evaluation_report(self.runner.db, year, q.window, q.rules,
                                           region=q.region, organisation=q.organisation)
        if q.limit is None:
            return result
        return {**result, **keyset_page(result["items"], q.cursor, q.limit)}

    def inbox(self, q: Query) -> Answer:
        if q.organisation is None:
            raise ReportError("the inbox is one organisation's: name the organisation")
        return reports.inbox_report(self.runner.db, q.window, q.organisation)


def keyset_page(items: list[dict[str, Any]], cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of rows already in (region_code, pairing_id) order, as the ledgers page."""
    if cursor:
        region, _, pairing_id = cursor.partition("|")
        items = [i for i in items if (i["region_code"], i["pairing_id"]) > (region, pairing_id)]
    page = items[:limit]
    more = len(items) > limit
    last = page[-1] if more else None
    return {"items": page,
            "next_cursor": f"{last['region_code']}|{last['pairing_id']}" if last else None}
