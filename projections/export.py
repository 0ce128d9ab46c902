"""Reports as tables for people: Chinese headers, CSV that Excel/WPS opens, XLSX, JSON."""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Callable

from domain.pairing_rules import DIMENSION_LABELS, RULE_LABELS, SEVERITY_LABELS, STATUS_LABELS

Column = tuple[str, str, Callable[[dict[str, Any]], Any]]


def field(key: str, header: str) -> Column:
    return key, header, lambda item: item.get(key)


def yes_no(key: str, header: str) -> Column:
    return key, header, lambda item: {True: "是", False: "否"}.get(item.get(key), "")


def _hits(item: dict[str, Any]) -> str:
    parts = []
    for hit in item.get("rule_hits", []):
        measured = ", ".join(f"{k}={v}" for k, v in hit["measured"].items() if v is not None)
        parts.append(f"{hit['rule']} {RULE_LABELS.get(hit['rule'], '')}"
                     f"（{SEVERITY_LABELS.get(hit['severity'], hit['severity'])}；{measured}）")
    return "；".join(parts)


def _counts(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda item: " ".join(f"{k}:{v}" for k, v in item.get(key, {}).items())


BOARD: list[Column] = [
    field("pairing_id", "结对编号"), field("giver_name", "帮扶方"),
    field("receiver_name", "受援方"), field("region_code", "区划代码"),
    ("status", "综合状态", lambda i: STATUS_LABELS.get(i["status"], i["status"])),
    field("in_force_on", "生效日期"), field("term_end", "协议期满"),
    field("last_activity_on", "最近确认活动"), field("cosigned_activities", "已确认活动数"),
    field("backfilled_activities", "补录活动数"), ("commitments", "承诺（按状态）", _counts("commitments")),
    ("tasks", "项目（按状态）", _counts("tasks")), ("rule_hits", "预警规则", _hits),
]
COMMITMENTS: list[Column] = [
    field("id", "承诺编号"), field("maker_name", "承诺方"), field("beneficiary_name", "受益方"),
    field("region_code", "区划代码"), field("category", "类别"), field("content", "承诺内容"),
    field("quantity", "数量"), field("unit", "单位"), field("amount_yuan", "金额（元）"),
    field("made_on", "承诺日期"), field("publicised_on", "公示日期"),
    field("original_due_on", "原定期限"), field("due_on", "现期限"), field("extensions", "延期次数"),
    field("claimed_on", "申报践诺日期"), field("fulfilled_on", "确认践诺日期"),
    field("abandoned_on", "放弃日期"), field("state_label", "状态"),
    yes_no("kept_on_time", "按期践诺"), field("days_overdue", "逾期天数"),
    field("outcome", "评诺结果"), yes_no("backfilled", "补录"),
]
TASKS: list[Column] = [
    field("id", "项目编号"), field("receiver_name", "需求方"), field("region_code", "区划代码"),
    field("category", "类别"), field("title", "需求"), field("raised_on", "提出日期"),
    field("wanted_by", "期望完成"), field("claimer_name", "认领方"), field("claimed_on", "认领日期"),
    field("due_on", "计划完成"), field("delivered_on", "交付日期"), field("value_yuan", "交付价值（元）"),
    field("confirmed_on", "确认日期"), field("satisfaction", "满意度"), field("state_label", "状态"),
    yes_no("confirmation_overdue", "确认超期"), field("rejections", "退回次数"),
    yes_no("backfilled", "补录"),
]
COVERAGE: list[Column] = [
    field("region_code", "区划代码"), field("villages", "村（社区）数"),
    field("villages_paired", "已结对村数"), field("villages_income_unknown", "集体收入未报村数"),
    field("weak_villages", "薄弱村数"), field("weak_villages_paired", "已结对薄弱村数"),
    field("weak_coverage", "薄弱村覆盖率"), field("agencies", "帮扶单位数"),
    field("agencies_paired", "已结对帮扶单位数"),
]
WEAK_WITHOUT: list[Column] = [
    field("code", "组织代码"), field("name", "村（社区）党组织"), field("region_code", "区划代码"),
    field("income_year", "收入年度"), field("income_yuan", "集体经济收入（元）"),
]
AGENCIES_WITHOUT: list[Column] = [
    field("code", "组织代码"), field("name", "党组织"), field("kind", "类型"),
    field("region_code", "区划代码"),
]
_POINTS = [(f"points.{d}", label, (lambda d: lambda i: i["points"][d])(d))
           for d, label in DIMENSION_LABELS.items()]
EVALUATION: list[Column] = [
    field("pairing_id", "结对编号"), field("giver_name", "帮扶方"), field("receiver_name", "受援方"),
    field("region_code", "区划代码"), *_POINTS, field("total", "总分"), field("grade", "等次"),
]
EVALUATION_ORGS: list[Column] = [
    field("name", "党组织"), field("pairings", "结对数"), *_POINTS, field("total", "平均分"),
    field("grade", "等次"),
]
INBOX: list[Column] = [
    field("label", "待办事项"), field("counterpart", "对方"), field("title", "内容"),
    field("since", "自"), field("pairing_id", "结对编号"),
]
FOLLOWUPS: list[Column] = [
    field("id", "案件编号"), field("responsible_name", "责任组织"), field("region_code", "区划代码"),
    field("rule_label", "督办事由"),
    ("severity", "程度", lambda i: SEVERITY_LABELS.get(i["severity"], i["severity"])),
    field("opened_on", "立案日期"), field("age_days", "已开天数"), field("state_label", "状态"),
    field("responded_on", "答复日期"), field("response", "答复内容"),
]
FOLLOWUP_REGIONS: list[Column] = [
    field("region_code", "区划代码"), field("open", "待答复"), field("responded", "已答复"),
    field("red", "严重"), field("days_0_30", "30天内"), field("days_31_90", "31至90天"),
    field("days_over_90", "90天以上"),
]

SHEETS: dict[str, list[tuple[str, str, list[Column]]]] = {
    "pairings": [("items", "结对状态", BOARD)],
    "inactive": [("items", "联而不动预警", BOARD)],
    "commitments": [("items", "承诺台账", COMMITMENTS)],
    "tasks": [("items", "项目清单", TASKS)],
    "coverage": [("items", "覆盖情况", COVERAGE), ("weak_without_pairing", "未结对薄弱村", WEAK_WITHOUT),
                 ("agencies_without_village", "未结对单位", AGENCIES_WITHOUT)],
    "evaluation": [("items", "结对考评", EVALUATION), ("organisations", "组织考评", EVALUATION_ORGS)],
    "inbox": [("items", "待办", INBOX)],
    "followups": [("items", "督办案件", FOLLOWUPS), ("by_region", "督办按地区", FOLLOWUP_REGIONS)],
}


def rows(columns: list[Column], items: list[dict[str, Any]]) -> list[list[Any]]:
    return [[get(item) for _, _, get in columns] for item in items]


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2, default=str)


def to_csv(report: str, result: dict[str, Any]) -> str:
    """The report's main table; UTF-8 with a BOM so Excel and WPS read the Chinese headers."""
    key, _, columns = SHEETS[report][0]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([header for _, header, _ in columns])
    writer.writerows(rows(columns, result[key]))
    return out.getvalue()


def to_xlsx(report: str, result: dict[str, Any]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for key, title, columns in SHEETS[report]:
        sheet = book.create_sheet(title)
        sheet.append([header for _, header, _ in columns])
        for row in rows(columns, result[key]):
            sheet.append(row)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_table(report: str, result: dict[str, Any]) -> str:
    """Plain aligned text for a terminal."""
    lines = []
    for key, title, columns in SHEETS[report]:
        body = [[_cell(v) for v in row] for row in rows(columns, result[key])]
        headers = [header for _, header, _ in columns]
        widths = [max([_width(h), *(_width(r[i]) for r in body)]) for i, h in enumerate(headers)]
        lines.append(f"== {title}（截至 {result.get('as_of')}"
                     + (f"，记录截至 {result['known_at']}" if result.get("known_at") else "") + "）")
        lines.append("  ".join(_pad(h, w) for h, w in zip(headers, widths)))
        lines += ["  ".join(_pad(c, w) for c, w in zip(r, widths)) for r in body]
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
