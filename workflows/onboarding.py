"""Reading an organisation list (or a list of division names) for bulk onboarding: CSV (UTF-8, as Excel/WPS save it) or
XLSX, with English or Chinese column headers, and optional collective income columns.

Only the shape of the file is read here: each row becomes the organisation's fields as text
(an XLSX number cell as its digits).  Whether a row is a valid organisation is the domain's
call, made in ``OrganisationCommands.import_organisations`` for every row before any is
written.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.labels import ORGANISATION_KINDS

# Each field and the headers it may come under (lower-cased, spaces removed).
HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "代码", "组织代码"),
    "name": ("name", "名称", "组织名称", "党组织名称"),
    "kind": ("kind", "类型", "组织类型"),
    "region_code": ("region_code", "行政区划代码", "区划代码", "统计用区划代码"),
    "income_year": ("income_year", "year", "年份", "收入年份"),
    "income_yuan": ("income_yuan", "income", "集体经济收入", "村集体经济收入"),
}
REQUIRED = ("code", "name", "kind", "region_code")
# A kind may be written as its Chinese label (村, 社区, 机关 ...).
KIND_OF_LABEL = {label: kind for kind, label in ORGANISATION_KINDS.items()}
XLSX_MAGIC = b"PK\x03\x04"


class UnreadableTable(ValueError):
    """The file is neither UTF-8 CSV nor an XLSX workbook, or its header is wrong."""


@dataclass(frozen=True)
class Row:
    line: int  # as a person sees it in the file: the header is line 1
    values: dict[str, str]


def field_of(header: Any) -> str | None:
    key = str(header or "").strip().lstrip("\ufeff").replace(" ", "").lower()
    return next((field for field, names in HEADERS.items() if key in names), None)


def _cell(value: Any) -> str:
    """An XLSX cell as text: whole numbers without '.0', dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(Decimal(str(value)))
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value).strip()


def _raw_rows(data: bytes | str) -> list[list[Any]]:
    if isinstance(data, bytes) and data.startswith(XLSX_MAGIC):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception as error:  # openpyxl raises many kinds on a damaged file
            raise UnreadableTable(f"the XLSX file cannot be read ({error})") from None
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableTable("the file is neither XLSX nor UTF-8 CSV (save it from "
                                  "Excel/WPS as 'CSV UTF-8' or as .xlsx)") from None
    return list(csv.reader(io.StringIO(data.lstrip("\ufeff"))))


def read_table(data: bytes | str, required: tuple[str, ...] = REQUIRED) -> list[Row]:
    """The rows of an organisation list (or, with ``required`` the division code and the
    name, a list of division names), keyed by field; blank rows are skipped."""
    rows = _raw_rows(data)
    if not rows:
        raise UnreadableTable("the file is empty")
    fields = [field_of(h) for h in rows[0]]
    missing = [f for f in required if f not in fields]
    if missing:
        names = "; ".join(f"{f} ({'/'.join(HEADERS[f][1:])})" for f in missing)
        raise UnreadableTable(f"missing column(s): {names}")
    table = []
    for number, raw in enumerate(rows[1:], start=2):
        values = {f: _cell(v) for f, v in zip(fields, raw) if f is not None}
        if not any(values.values()):
            continue
        if "kind" in values:
            values["kind"] = KIND_OF_LABEL.get(values["kind"], values["kind"])
        table.append(Row(number, values))
    return table
