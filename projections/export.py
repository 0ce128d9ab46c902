"""Reports as tables for people: Chinese headers, CSV that Excel/WPS opens, XLSX, JSON.

The columns come from each report's row declaration (``projections.rows``): its Chinese
column names, the label of a code rather than the code, ids last.

Every cell is data, never code (docs/decisions.md, "Exports are data"): a text that
Excel or WPS would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) is written as text: in CSV behind a ``'`` (the OWASP way), in XLSX as a
string cell marked as quoted.  Text typed by anyone (a commitment's content, a task's
title, an organisation's name) reaches an evaluator's spreadsheet this way.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Callable

from domain.labels import YES_NO, rule_set_words
from projections import rows as r
from projections.rows import Col, Row


@dataclass(frozen=True)
class Column:
    header: str
    kind: str
    value: Callable[[dict[str, Any]], Any]


def columns(row: type[Row]) -> list[Column]:
    """The file columns of ``row``: its fields with a Chinese name, as people read them."""
    out: list[Column] = []
    for c in row.columns:
        if c.expand:
            out += [Column(h, r.POINTS, _expanded(c, f)) for h, f in c.expand]
        elif c.header is not None:
            out.append(Column(c.header, c.kind, _value(c)))
    return out


def _expanded(c: Col, part: Callable[[Any], Any]) -> Callable[[dict[str, Any]], Any]:
    return lambda item: part(item[c.name])


def _value(c: Col) -> Callable[[dict[str, Any]], Any]:
    name, cell = c.name, c.cell
    if cell is not None:
        return lambda item: cell(item[name])
    if c.label_key:
        key = c.label_key
        return lambda item: item[key]
    if c.kind == r.BOOL:
        return lambda item: YES_NO.get(item[name], "")
    return lambda item: item.get(name)


SHEETS: dict[str, list[tuple[str, str, type[Row]]]] = {
    "pairings": [("items", "结对状态", r.BoardItem)],
    "inactive": [("items", "联而不动预警", r.BoardItem)],
    "commitments": [("items", "承诺台账", r.CommitmentItem)],
    "tasks": [("items", "项目清单", r.TaskItem)],
    "coverage": [("items", "覆盖情况", r.CoverageRow),
                 ("weak_without_pairing", "未结对薄弱村", r.WeakVillage),
                 ("agencies_without_village", "未结对单位", r.OrganisationRow)],
    "evaluation": [("items", "结对考评", r.PairingScore),
                   ("organisations", "组织考评", r.OrganisationScore)],
    "inbox": [("items", "待办", r.InboxItem)],
    "followups": [("items", "督办案件", r.FollowUpItem),
                  ("by_region", "督办按地区", r.FollowUpRegion)],
}


def table(cols: list[Column], items: list[dict[str, Any]]) -> list[list[Any]]:
    return [[c.value(item) for c in cols] for item in items]


# Excel and WPS start a formula with these (and DDE with '=', '+', '-', '@').
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def _csv_cell(value: Any) -> Any:
    return "'" + value if is_formula_like(value) else value


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2, default=str)


def to_csv(report: str, result: dict[str, Any]) -> str:
    """The report's main table; UTF-8 with a BOM so Excel and WPS read the Chinese headers."""
    key, _, row = SHEETS[report][0]
    cols = columns(row)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([c.header for c in cols])
    writer.writerows([_csv_cell(v) for v in line] for line in table(cols, result[key]))
    return out.getvalue()


def title(name: str, result: dict[str, Any], scope: str | None = None) -> str:
    """What a printed sheet says it is: the report, its scope, as of when, under which rules."""
    parts = [name]
    if scope is None:
        region = result.get("region")
        scope = f"区域 {region}" if region else ("本组织" if result.get("organisation_id") else None)
    if scope:
        parts.append(f"范围：{scope}")
    if result.get("year"):
        parts.append(f"{result['year']} 年度")
    parts.append(f"截至 {result.get('as_of')}")
    if result.get("known_at"):
        parts.append(f"记录截至 {result['known_at']}")
    if "rule_set_version" in result:
        parts.append(rule_set_words(result["rule_set_version"]))
    return "　".join(parts)


_XLSX_FORMATS = {r.DATE: "yyyy-mm-dd", r.AMOUNT: "#,##0.00", r.SHARE: "0.00%", r.POINTS: "0.00"}


def _xlsx_value(kind: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if kind == r.DATE:
        return date.fromisoformat(value)
    if kind == r.AMOUNT:
        return Decimal(value)
    return value


def to_xlsx(report: str, result: dict[str, Any], scope: str | None = None) -> bytes:
    """One sheet per table, ready to file: a title row (report, scope, as-of date, rule-set
    version), bold headers, widths that fit, dates as dates and amounts as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for key, name, row in SHEETS[report]:
        cols = columns(row)
        sheet = book.create_sheet(name)
        sheet.cell(1, 1, title(name, result, scope)).font = bold
        widths = [_width(c.header) for c in cols]
        for j, c in enumerate(cols, start=1):
            sheet.cell(2, j, c.header).font = bold
        for i, line in enumerate(table(cols, result[key]), start=3):
            for j, (c, value) in enumerate(zip(cols, line), start=1):
                cell = sheet.cell(i, j)
                cell.value = _xlsx_value(c.kind, value)
                if is_formula_like(value):
                    # Text, never a formula: a string cell, and quoted as Excel marks typed '=...
                    cell.data_type = "s"
                    cell.quotePrefix = True
                elif c.kind in _XLSX_FORMATS and cell.value is not None:
                    cell.number_format = _XLSX_FORMATS[c.kind]
                widths[j - 1] = max(widths[j - 1], _width(_cell(value)))
        for j, w in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(j)].width = min(w + 2, 60)
        sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_table(report: str, result: dict[str, Any]) -> str:
    """Plain aligned text for a terminal."""
    lines = []
    for key, name, row in SHEETS[report]:
        cols = columns(row)
        body = [[_cell(v) for v in line] for line in table(cols, result[key])]
        headers = [c.header for c in cols]
        widths = [max([_width(h), *(_width(b[i]) for b in body)]) for i, h in enumerate(headers)]
        lines.append(f"== {name}（截至 {result.get('as_of')}"
                     + (f"，记录截至 {result['known_at']}" if result.get("known_at") else "") + "）")
        lines.append("  ".join(_pad(h, w) for h, w in zip(headers, widths)))
        lines += ["  ".join(_pad(c, w) for c, w in zip(b, widths)) for b in body]
        if not body:
            lines.append("（无）")
    if result.get("next_cursor"):
        lines.append(f"下一页: --cursor {result['next_cursor']}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
