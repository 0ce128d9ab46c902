"""The shapes of values at the edge: text, local dates, moments, amounts, digests.

On the way in these check *form* only (a date is a date in a sane range, text is storable,
an amount has at most two decimals).  Whether a value is allowed is the domain's call, made
in the engine.  On the way out they render values as people read them: times in
Asia/Shanghai (``+08:00``), amounts with two decimals, and beside each code its Chinese
name from ``domain.labels`` (``Label``).
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

import marshmallow as ma
from marshmallow import validate

from domain.labels import label
from workflows.store.clock import LOCAL_TZ

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
# Control characters break CSV/XLSX exports and terminal output; lone surrogates cannot be
# stored as UTF-8.  Free text keeps line breaks and tabs.
_FORBIDDEN_LINE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_FORBIDDEN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
MAX_AMOUNT = Decimal("1000000000000")  # a trillion yuan: above any programme budget


class Text(ma.fields.String):
    """A line (names, codes) or, with ``multiline=True``, free text (reasons, notes)."""

    def __init__(self, max_length: int = 200, multiline: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Length(max=max_length))
        super().__init__(**kwargs)
        self._forbidden = _FORBIDDEN_TEXT if multiline else _FORBIDDEN_LINE

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self._forbidden.search(text):
            raise ma.ValidationError("contains control characters or unpaired surrogates")
        return text


class LocalDate(ma.fields.Date):
    """An ISO 8601 local date (Asia/Shanghai), between 2000 and 2100."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=EARLIEST_DATE, max=LATEST_DATE))
        kwargs.setdefault("metadata", {}).setdefault("example", "2026-03-01")
        super().__init__(**kwargs)


class Moment(ma.fields.AwareDateTime):
    """An ISO 8601 time with a UTC offset, between 2000 and 2100 (the engine refuses the future)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "2026-03-01T09:30:00+08:00")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_DATE.year <= moment.year <= LATEST_DATE.year:
            raise ma.ValidationError("must be between 2000 and 2100")
        return moment


class Amount(ma.fields.Decimal):
    """Yuan as a decimal string (``"50000.00"``): non-negative, at most two decimals."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "50000.00")
        super().__init__(as_string=True, allow_nan=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ma.ValidationError("must be a decimal string in yuan, e.g. \"50000.00\"")
        if isinstance(value, str) and len(value) > 32:
            raise ma.ValidationError("is too long for an amount")
        amount = super()._deserialize(value, attr, data, **kwargs)
        if amount < 0:
            raise ma.ValidationError("must not be negative")
        if amount >= MAX_AMOUNT:
            raise ma.ValidationError("is implausibly large")
        if _decimals(amount) > 2:
            raise ma.ValidationError("has more than two decimals (fen)")
        return amount


class Sha256(ma.fields.String):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lower-case hex digits"))
        super().__init__(**kwargs)


def region_field(scope: bool = False, **kwargs: Any) -> Text:
    """A 12-digit 统计用区划代码, or with ``scope`` a prefix of one (ASCII digits only)."""
    pattern = r"^(|[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})$" if scope else r"^[0-9]{12}$"
    return Text(max_length=12, validate=validate.Regexp(pattern, error="must be ASCII digits: "
                + ("a region prefix of 2, 4, 6, 9 or 12 digits" if scope else "12 of them")),
                **kwargs)


def one_of(choices: tuple[str, ...] | list[str], **kwargs: Any) -> ma.fields.String:
    return ma.fields.String(validate=validate.OneOf(choices), **kwargs)


class Quantity(ma.fields.Decimal):
    """A measured quantity as a decimal string (``"12.5"``): non-negative, at most 4 decimals."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "12.5")
        super().__init__(as_string=True, allow_nan=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > 32:
            raise ma.ValidationError("must be a decimal string, e.g. \"12.5\"")
        quantity = super()._deserialize(value, attr, data, **kwargs)
        if quantity < 0 or quantity >= MAX_AMOUNT or _decimals(quantity) > 4:
            raise ma.ValidationError("must be from 0 to 10^12 with at most 4 decimals")
        return quantity


class Flag(ma.fields.Boolean):
    """JSON true or false only (marshmallow would also take 0, 1, "yes" ...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ma.ValidationError("must be true or false")
        return value


class KnownAt(ma.fields.Field):
    """A recorded-time bound: a local date (the end of that day) or a time with an offset."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).update({
            "type": "string", "example": "2025-12-31",
            "description": "only facts recorded by then: a date (the end of that day, "
                           "Asia/Shanghai) or a time with a UTC offset"})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date | datetime:
        if not isinstance(value, str) or len(value) > 40:
            raise ma.ValidationError("must be a date like 2025-12-31 or a time with an offset")
        if len(value) == 10:
            return LocalDate().deserialize(value)
        return Moment().deserialize(value)


def _decimals(value: Decimal) -> int:
    """Digits after the point (a NaN or an infinity, which the fields refuse anyway, as many)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) else 99


# -- answers ------------------------------------------------------------------------------------

class LocalTime(ma.fields.AwareDateTime):
    """A moment in an answer: ISO 8601 in Asia/Shanghai, ``2026-03-01T09:30:00+08:00`` (stored
    in UTC, read by people whose morning must not show as the day before)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "2026-03-01T09:30:00+08:00")
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(LOCAL_TZ).isoformat()
        return None


def local_time(value: datetime | str | None) -> str | None:
    """``LocalTime`` for answers built as plain dicts."""
    return LocalTime()._serialize(value, None, None)


class Money(ma.fields.Decimal):
    """Yuan in an answer: a decimal string with two decimals (``"50000.00"``, whatever was sent)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "50000.00")
        super().__init__(places=2, rounding=ROUND_HALF_UP, as_string=True, **kwargs)


class Label(ma.fields.String):
    """The Chinese name of the code in the field ``of`` (``state_label`` beside ``state``)."""

    def __init__(self, of: str, catalogue: Mapping[str, str], **kwargs: Any) -> None:
        metadata = {"description": f"the Chinese name of {of}", "x-labels": dict(catalogue),
                    **kwargs.pop("metadata", {})}
        super().__init__(attribute=of, dump_only=True, allow_none=True, metadata=metadata,
                         **kwargs)
        self.catalogue = catalogue

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return label(self.catalogue, value)


class Labels(ma.fields.List):
    """The Chinese names of the codes in the list field ``of``."""

    def __init__(self, of: str, catalogue: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(ma.fields.String(), attribute=of, dump_only=True, metadata={
            "description": f"the Chinese names of {of}", "x-labels": dict(catalogue)}, **kwargs)
        self.catalogue = catalogue

    def _serialize(self, value: Any, attr: str | None, obj: Any,
                   **kwargs: Any) -> list[str | None] | None:
        return None if value is None else [label(self.catalogue, v) for v in value]
