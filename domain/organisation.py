"""党组织: a party organisation that gives (agency, enterprise, ...) or receives (village, community)."""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.checks import check_reason, check_text, check_yuan
from domain.errors import InvalidValue

GIVING_KINDS = ("agency", "enterprise", "institution", "school", "new_economic", "new_social")
RECEIVING_KINDS = ("village", "community")
KINDS = GIVING_KINDS + RECEIVING_KINDS

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REGION = re.compile(r"^[0-9]{12}$")  # ASCII only: \d also matches full-width digits


def validate_region_code(region_code: str) -> str:
    """A 12-digit 统计用区划代码 (2 province, 4 city, 6 county, 9 township, 12 village)."""
    if not isinstance(region_code, str) or not _REGION.match(region_code):
        raise InvalidValue("region_code", "must be a 12-digit statistical division code")
    return region_code


class Organisation(CobuildAggregate):
    subject = "organisation"

    @staticmethod
    def create_id(code: str) -> UUID:
        # The code is the natural key: registering it twice conflicts at save time.
        return uuid5(NAMESPACE_URL, f"/cobuild/organisations/{code}")

    @classmethod
    def register(
        cls, by: Attribution, code: str, name: str, kind: str, region_code: str
    ) -> "Organisation":
        if not isinstance(code, str) or not _CODE.match(code):
            raise InvalidValue("code", "must be 1-64 letters, digits, '.', '_' or '-'")
        if kind not in KINDS:
            raise InvalidValue("kind", f"must be one of {', '.join(KINDS)}")
        return cls(
            code=code, name=check_text("name", name, 200), kind=kind,
            region_code=validate_region_code(region_code), **by.fields(),
        )

    @event("OrganisationRegistered")
    def __init__(
        self, code: str, name: str, kind: str, region_code: str,
        actor: dict[str, Any], on_behalf_of: UUID | None, occurred_at: datetime,
    ) -> None:
        self.code = code
        self.name = name
        self.kind = kind
        self.region_code = region_code
        self.collective_income: dict[int, Decimal] = {}
        self.state = "active"

    @property
    def gives(self) -> bool:
        return self.kind in GIVING_KINDS

    @property
    def receives(self) -> bool:
        return self.kind in RECEIVING_KINDS

    def rename(self, by: Attribution, name: str) -> None:
        self.require_state("rename", "active")
        self._renamed(name=check_text("name", name, 200), **by.fields())

    @event("OrganisationRenamed")
    def _renamed(self, name: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.name = name

    def report_collective_income(self, by: Attribution, year: int, amount: Decimal) -> None:
        self.require_state("report collective income", "active")
        if not self.receives:
            raise InvalidValue("kind", "collective income is reported for villages and communities only")
        if not isinstance(year, int) or not 1949 <= year <= 2200:
            raise InvalidValue("year", "must be a calendar year")
        amount = check_yuan("amount_yuan", amount)
        self._income_reported(year=year, amount=amount, **by.fields())

    @event("CollectiveIncomeReported")
    def _income_reported(self, year: int, amount: Decimal, actor: dict[str, Any],
                         on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.collective_income[year] = amount

    def dissolve(self, by: Attribution, reason: str) -> None:
        self.require_state("dissolve", "active")
        self._dissolved(reason=check_reason(reason), **by.fields())

    @event("OrganisationDissolved")
    def _dissolved(self, reason: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                   occurred_at: datetime) -> None:
        self.state = "dissolved"
