"""区划: the name of a statistical division (统计用区划代码), as the organisation department
records it.

Organisations carry only a 12-digit division code; which township or county that is, in
words, is a fact an admin records like any other (who, when), so the supervisors' pages
can say 「城关镇」 rather than describe a township by its villages.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.base import Attribution, CobuildAggregate
from domain.checks import check_text
from domain.errors import InvalidValue

# A division code by its level: how many leading digits of the 12 it has.
LEVELS = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}
LEVEL_DIGITS = {level: digits for digits, level in LEVELS.items()}
_DIVISION = re.compile(r"^(?:[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})$")  # ASCII only
# The full 12-digit form pads a higher level with zeros: 331123101000 is township 331123101.
_PADDING = ((12, "000"), (9, "000"), (6, "00"), (4, "00"))
MAX_NAME = 50  # the longest division names are some 20 characters
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def division_code(code: Any) -> str:
    """A division code at its own level (2, 4, 6, 9 or 12 digits).

    The published tables write every code with 12 digits; the trailing zero groups of a
    higher level are dropped (331123101000 → 331123101, 331123000000 → 331123), as a
    village's own three digits are never 000."""
    if not isinstance(code, str) or not _DIVISION.match(code.strip()):
        raise InvalidValue("code", "must be a division code of 2, 4, 6, 9 or 12 digits")
    text: str = code.strip()
    for length, zeros in _PADDING:
        if len(text) == length and text.endswith(zeros):
            text = text[:-len(zeros)]
    if text == "00":
        raise InvalidValue("code", "must be a division code of 2, 4, 6, 9 or 12 digits")
    return text


def level_of(code: str) -> str:
    return LEVELS[len(code)]


def parent_of(code: str) -> str | None:
    """The division one level up (``None`` for a province)."""
    shorter = [digits for digits in LEVELS if digits < len(code)]
    return code[:max(shorter)] if shorter else None


def ancestors(region_code: str) -> list[str]:
    """The divisions an organisation's 12-digit code lies in, township first, up to its
    province: 331123101201 → 331123101, 331123, 3311, 33 (a zero group is no division:
    331123000000, the county's own agencies, lies in no township)."""
    out = []
    for digits in (9, 6, 4, 2):
        code = region_code[:digits]
        if len(code) == digits and code.isdigit() and code[-(3 if digits > 6 else 2):].strip("0"):
            out.append(code)
    return out


def check_division_name(name: Any) -> str:
    """A division's name: one line of Chinese text (「城关镇」「青石乡」)."""
    text = check_text("name", name, MAX_NAME)
    if "\n" in text or "\r" in text:
        raise InvalidValue("name", "must be one line")
    if not _CJK.search(text):
        raise InvalidValue("name", "must be written in Chinese characters")
    return text


class Region(CobuildAggregate):
    """A named division; keyed by its code, so naming it twice finds the same record."""

    subject = "region"

    @staticmethod
    def create_id(code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/cobuild/regions/{code}")

    @classmethod
    def named(cls, by: Attribution, code: str, name: str) -> "Region":
        return cls(code=division_code(code), name=check_division_name(name), **by.fields())

    @event("RegionNamed")
    def __init__(self, code: str, name: str, actor: dict[str, Any],
                 on_behalf_of: UUID | None, occurred_at: datetime) -> None:
        self.code = code
        self.name = name
        self.state = "named"

    @property
    def level(self) -> str:
        return level_of(self.code)

    def rename(self, by: Attribution, name: str) -> bool:
        """Record a new name; the name it already has changes nothing (``False``)."""
        name = check_division_name(name)
        if name == self.name:
            return False
        # The code travels with the new name, so a reader of the log needs no other event.
        self._renamed(code=self.code, name=name, **by.fields())
        return True

    @event("RegionRenamed")
    def _renamed(self, code: str, name: str, actor: dict[str, Any], on_behalf_of: UUID | None,
                 occurred_at: datetime) -> None:
        self.name = name
