"""区划名称: the rules for a division's code and name, for any input (hypothesis)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from domain.base import Actor, Attribution
from domain.errors import InvalidValue
from domain.region import (
    LEVELS, MAX_NAME, Region, check_division_name, division_code, level_of, parent_of,
)

BY = Attribution(Actor("a", "admin", None, "33"), datetime(2026, 3, 2, 1, tzinfo=timezone.utc))
CHINESE = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1,
                  max_size=MAX_NAME)
NONZERO3 = st.integers(1, 999).map(lambda n: f"{n:03d}")
NONZERO2 = st.integers(1, 99).map(lambda n: f"{n:02d}")


@st.composite
def codes(draw) -> str:
    """A division code at its own level, built as the published tables build them."""
    code = draw(NONZERO2)
    depth = draw(st.integers(0, 4))
    parts = [NONZERO2, NONZERO2, NONZERO3, NONZERO3][:depth]
    return code + "".join(draw(p) for p in parts)


@given(codes(), CHINESE)
def test_a_named_division_keeps_its_code_level_and_name(code, name):
    region = Region.named(BY, code, name)
    assert (region.code, region.name, region.state) == (code, name.strip(), "named")
    assert region.level == LEVELS[len(code)]
    assert region.id == Region.create_id(code)
    parent = parent_of(code)
    assert parent is None if len(code) == 2 else code.startswith(parent) and len(parent) < len(code)


@given(codes())
def test_the_twelve_digit_form_of_a_code_is_the_same_division(code):
    assert division_code(code.ljust(12, "0")) == code
    assert level_of(division_code(code.ljust(12, "0"))) == LEVELS[len(code)]


@given(st.text(max_size=14))
def test_anything_but_ascii_digits_of_a_level_is_refused(code):
    if code.strip().isascii() and code.strip().isdigit() and len(code.strip()) in LEVELS \
            and code.strip().strip("0"):
        assert len(division_code(code)) in LEVELS
    else:
        with pytest.raises(InvalidValue) as refused:
            division_code(code)
        assert refused.value.field == "code"


@pytest.mark.parametrize("code", ["331", "33112", "１２", "3311231012011", "", "00", "000000000000"])
def test_codes_that_are_no_division_are_refused(code):
    with pytest.raises(InvalidValue):
        Region.named(BY, code, "城关镇")


@given(st.text(max_size=80))
def test_a_name_is_one_line_of_chinese_within_the_cap(name):
    text = name.strip()
    fine = (text and len(text) <= MAX_NAME and "\n" not in text and "\r" not in text
            and any("\u4e00" <= c <= "\u9fff" for c in text))
    try:
        checked = check_division_name(name)
    except InvalidValue as refused:
        assert refused.field == "name"
        assert not fine or not text.strip("\u200b\u200c\u200d\u2060\ufeff\u180e\u3164\u115f\u1160 \t\r\n\u3000") \
            or any(c in text for c in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    else:
        assert checked == text and 0 < len(checked) <= MAX_NAME


@given(codes(), CHINESE, CHINESE)
def test_renaming_records_only_a_new_name(code, first, second):
    region = Region.named(BY, code, first)
    before = region.version
    changed = region.rename(BY, second)
    assert changed == (second.strip() != first.strip())
    assert region.name == second.strip()
    assert region.version == before + (1 if changed else 0)
    assert not region.rename(BY, second)  # the same name again: no new event
    assert region.version == before + (1 if changed else 0)


@pytest.mark.parametrize("name", ["", "   ", "Chengguan", "城关镇\n青石乡", "镇" * (MAX_NAME + 1)])
def test_bad_names_are_refused(name):
    with pytest.raises(InvalidValue) as refused:
        Region.named(BY, "331123101", name)
    assert refused.value.field == "name"
