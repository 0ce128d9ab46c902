"""Checks of values shared by every aggregate: text, amounts, dates, digests, who may act.

Each check raises ``InvalidValue`` (or ``NotPermitted``) naming the field, and returns the
value as the aggregate will record it.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping
from uuid import UUID

from domain.base import Attribution
from domain.errors import InvalidValue, NotPermitted


def require_not_before(field: str, value: datetime, earlier: datetime | None, what: str) -> None:
    if earlier is not None and value < earlier:
        raise InvalidValue(field, f"is dated before the {what} it confirms ({earlier.isoformat()})")


MAX_AMOUNT = Decimal("1000000000000")  # a trillion yuan (or units): anything above is a typo
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def check_uuid(field: str, value: Any) -> UUID:
    if not isinstance(value, UUID):
        raise InvalidValue(field, "must be a UUID")
    return value


def check_date(field: str, value: Any) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidValue(field, "must be a local date (no time of day)")
    return value


def check_datetime(field: str, value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidValue(field, "must be a date and time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, "must carry a UTC offset")
    return value


def check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(field, "must be true or false")
    return value


# Bidirectional controls make text display in another order than it is stored (a name
# that reads "村委会" but sorts, searches and exports as something else); zero-width
# characters make text that looks blank.  Neither belongs in a title or a name.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u180e\u3164\u115f\u1160"


def check_text(field: str, value: Any, max_length: int = 2000) -> str:
    if value is not None and not isinstance(value, str):
        raise InvalidValue(field, "must be text")
    text = (value or "").strip()
    if not text.strip(_INVISIBLE + " \t\r\n\u3000"):
        raise InvalidValue(field, "must not be blank")
    if _BIDI_CONTROLS.search(text):
        raise InvalidValue(field, "must not contain bidirectional control characters "
                                  "(they make text display other than it is stored)")
    if len(text) > max_length:
        raise InvalidValue(field, f"must be at most {max_length} characters")
    return text


def check_optional_text(field: str, value: Any, max_length: int = 2000) -> str | None:
    if value is None:
        return None
    return check_text(field, value, max_length)


def check_reason(value: Any, max_length: int = 2000) -> str:
    """Every negative or corrective transition carries a reason."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidValue("reason", "a reason is required for this transition")
    return check_text("reason", value, max_length)


def check_decimal(field: str, value: Any, *, places: int, positive: bool = False) -> Decimal:
    """A finite, non-negative (or positive) Decimal with at most ``places`` decimal places."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidValue(field, "must be a finite decimal number")
    if value < 0 or (positive and value == 0):
        raise InvalidValue(field, "must be greater than zero" if positive
                           else "must not be negative")
    if value > MAX_AMOUNT:
        raise InvalidValue(field, f"must be at most {MAX_AMOUNT}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise InvalidValue(field, f"must have at most {places} decimal places")
    return abs(value) if value == 0 else value  # no "-0"


def check_yuan(field: str, value: Any, *, positive: bool = False) -> Decimal:
    return check_decimal(field, value, places=2, positive=positive)


def check_quantity(field: str, value: Any, *, positive: bool = False) -> Decimal:
    return check_decimal(field, value, places=4, positive=positive)


def check_sha256(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise InvalidValue(field, "must be a SHA-256 digest: 64 hexadecimal characters")
    return value.lower()


def check_not_after(field: str, value: datetime, later: datetime, what: str) -> None:
    if value > later:
        raise InvalidValue(field, f"is dated after the {what} ({later.isoformat()})")


def check_not_earlier(field: str, value: datetime | date, earlier: datetime | date | None,
                      what: str) -> None:
    """Like ``require_not_before`` for facts that follow (rather than confirm) another."""
    if earlier is not None and value < earlier:
        raise InvalidValue(field, f"is dated before the {what} ({earlier.isoformat()})")


def refuse_cross_side_representation(by: Attribution, *parties: UUID | None) -> None:
    """A member of one party never enters facts on behalf of the other party.

    ``on_behalf_of`` exists for a township clerk or a first secretary entering data for a
    village; a 第一书记 is often seconded from the very agency the village is paired with, so
    without this rule the agency could confirm its own work by typing for the village.
    """
    own, represented = by.actor.organisation_id, by.on_behalf_of
    known = {p for p in parties if p is not None}
    if own is not None and represented is not None and own != represented \
            and own in known and represented in known:
        raise NotPermitted(
            "cross-side-representation",
            "a member of one party cannot act on behalf of the other party",
        )


def other_side(side: str) -> str:
    return "receiver" if side == "giver" else "giver"


def refuse_other_side(writers: Mapping[str, str], by: Attribution, side: str) -> None:
    """Two parties, two people (DESIGN §13).

    A fact that needs the other side (co-signing, accepting, the second signature,
    confirming or disputing) is worth something only if someone else wrote it.  So whoever
    wrote for one side of a pairing, as its member or as a proxy (代录), never writes for
    the other side of it: not the same user, and a proxy enters for one side only.
    ``writers`` maps user ids to the side each wrote for.
    """
    wrote_for = writers.get(by.actor.user_id)
    if wrote_for is not None and wrote_for != side:
        raise NotPermitted(
            "two-parties-two-people",
            f"you already entered facts for the {wrote_for} side; a fact of the {side} side "
            "must be entered by someone else",
        )
