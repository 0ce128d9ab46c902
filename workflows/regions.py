"""Commands on 区划 (divisions): an admin records the name of a division in its region,
one at a time or a whole list (CSV/XLSX, every row or none).  Naming a division again with
the name it has records nothing, so re-importing the same list is harmless."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.base import Actor, Attribution
from domain.errors import DomainError, InvalidValue
from domain.region import Region, check_division_name, division_code
from workflows.authorisation import in_region, require_role
from workflows.core import EngineCore, Outcome
from workflows.errors import Forbidden
from workflows.onboarding import UnreadableTable, read_table
from workflows.organisations import ImportRejected, RowError

REGION_COLUMNS = ("region_code", "name")  # 区划代码, 名称


@dataclass(frozen=True)
class RegionChange:
    """What naming a division does: ``named`` (new), ``renamed`` (from ``was``) or
    ``same`` (the name it has: nothing recorded)."""

    region: Region
    change: str
    was: str | None = None


class RegionCommands(EngineCore):
    def name_region(self, actor: Actor, code: str, name: str,
                    occurred_at: datetime | None = None) -> Outcome:
        """Record a division's name (admin, within its region).  The answer's details say
        whether the division was ``created`` and whether anything ``changed``."""
        change = self._change(actor, self.attribution(actor, occurred_at), code, name)
        region = change.region
        details = {"created": change.change == "named", "changed": change.change != "same"}
        if change.change == "same":
            return Outcome(region.id, region.version, region.state, None, details)
        return self.commit(region, **details)

    def _change(self, actor: Actor, by: Attribution, code: str, name: str) -> RegionChange:
        require_role(actor, "admin-names-regions", "admin")
        code = division_code(code)
        if actor.region_code is not None and not in_region(actor, code):
            raise Forbidden("region-scope", "the division is outside your region")
        name = check_division_name(name)
        region_id = Region.create_id(code)
        if not self.exists(region_id):
            return RegionChange(Region.named(by, code, name), "named")
        region = self.load(Region, region_id)
        was = region.name
        return RegionChange(region, "renamed" if region.rename(by, name) else "same", was)

    def check_region_import(self, actor: Actor, data: bytes | str) -> list[RegionChange]:
        """Every row of a list of division names (区划代码, 名称) checked, nothing written:
        what each row would do, or ImportRejected naming each bad row (a preview)."""
        require_role(actor, "admin-names-regions", "admin")
        by = self.attribution(actor)
        try:
            rows = read_table(data, REGION_COLUMNS)
        except UnreadableTable as error:
            raise ImportRejected([RowError(1, str(error))]) from None
        changes: list[RegionChange] = []
        errors: list[RowError] = []
        seen: dict[str, int] = {}
        for row in rows:
            get = row.values.get
            try:
                code = division_code(get("region_code", ""))
                if code in seen:
                    raise InvalidValue("code", f"repeats line {seen[code]}")
                if not in_region(actor, code):
                    raise InvalidValue("code", "is outside your region")
                changes.append(self._change(actor, by, code, get("name", "")))
            except DomainError as error:
                errors.append(RowError(row.line, error.message))
                continue
            seen[code] = row.line
        if errors:
            raise ImportRejected(errors)
        if not changes:
            raise ImportRejected([RowError(1, "the file has no rows")])
        return changes

    def import_regions(self, actor: Actor, data: bytes | str) -> list[RegionChange]:
        """A list of division names: every row or none, in one transaction; the rows that
        name a division as it is already named record nothing."""
        changes = self.check_region_import(actor, data)
        recorded = [c.region for c in changes if c.change != "same"]
        if recorded:
            self.commit(*recorded)
        return changes
