"""Each report's row, declared once: its fields, their kinds, Chinese column names and labels.

A row class lists its columns in order::

    class TaskItem(Row):
        title = Col("需求")
        state = Col("状态", labels=labels.TASK_STATES)
        id = Col("项目编号", ID)

From that one declaration come

- ``TaskItem.of(...)``: the row as a named tuple (a report builds thousands: a named tuple
  is made several times faster than a dataclass, and a misspelt field fails at once);
- ``TaskItem.json(row)``: the row as JSON values, each coded field with its ``*_label``
  from ``domain.labels`` beside it and amounts as two-decimal strings; it takes the named
  tuple, or a dict with the row's keys (rows a report folds into dicts as it counts);
- ``TaskItem.columns``: what ``projections.export`` writes to CSV and XLSX (the column
  name, and the label rather than the code);
- and in ``api.http.reports`` the marshmallow schema that documents the JSON in OpenAPI.

``json`` is made once per row class as one dict expression (as ``namedtuple`` makes its
own methods), so turning a page of rows into JSON costs about as much as building the
dicts by hand did.
"""
from __future__ import annotations

import operator
from collections import namedtuple
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, ClassVar

from domain import labels
from domain.labels import PROXY_ENTRY, Catalogue

# Kinds of value: how a field is documented and written to a file.
TEXT = "text"          # free text or a name
CODE = "code"          # a code from a catalogue (``labels``): the file shows its label
ID = "id"              # a UUID or a cursor: for matching rows, never read first
REGION = "region"      # a 统计用区划代码 or a prefix of one
DATE = "date"          # an ISO local date
INT = "int"
BOOL = "bool"          # 是 / 否 in files
AMOUNT = "amount"      # yuan, a decimal string with two decimals
QUANTITY = "quantity"  # a measured quantity, a decimal string as entered
SHARE = "share"        # a ratio from 0 to 1
POINTS = "points"      # a score (float)
COUNTS = "counts"      # {code: count}, codes of the column's catalogue
MAPPING = "mapping"    # {name: value}, documented as an object
LIST = "list"          # a list of rows of ``Col.nested``


@dataclass
class Col:
    """One field of a row.

    ``header`` is its Chinese column name in files (None: not in files).  With ``labels``
    the JSON carries ``<name>_label`` (or ``label_as``) beside the code, and files show the
    label.  ``cell`` overrides how the field is written to a file; ``expand`` writes it as
    several columns ``[(header, value of the field -> cell)]``."""

    header: str | None = None
    kind: str = TEXT
    labels: Catalogue | None = None
    nullable: bool = False
    description: str | None = None
    label_as: str | None = None
    nested: type["Row"] | None = None
    cell: Callable[[Any], Any] | None = None
    expand: list[tuple[str, Callable[[Any], Any]]] | None = None
    name: str = field(default="", init=False)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        if self.labels is not None and self.kind == TEXT:
            self.kind = CODE

    @property
    def label_key(self) -> str | None:
        if self.labels is None or self.kind == COUNTS:
            return None
        return self.label_as or f"{self.name}_label"


class Row:
    """A report's row; subclasses declare ``Col`` attributes (inherited ones come first)."""

    columns: ClassVar[tuple[Col, ...]] = ()
    Tuple: ClassVar[type]
    _json_tuple: ClassVar[Callable[[Any], dict[str, Any]]]
    _json_dict: ClassVar[Callable[[dict[str, Any]], dict[str, Any]]]
    _nulls: ClassVar[dict[str, None]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = tuple(v for v in vars(cls).values() if isinstance(v, Col))
        cls.columns = (*cls.columns, *own)
        cls.Tuple = namedtuple(cls.__name__, [c.name for c in cls.columns])  # type: ignore[misc]
        cls.of = cls.Tuple  # type: ignore[method-assign]  # the row itself: no call in between
        cls._json_tuple = _compile(cls, "r.{name}")
        cls._json_dict = _compile(cls, "r[{name!r}]")
        cls._nulls = {c.name: None for c in cls.columns if c.nullable}

    @classmethod
    def of(cls, **values: Any) -> Any:
        """The row as a named tuple (each subclass binds this to its ``Tuple``)."""
        return cls.Tuple(**values)

    @classmethod
    def some(cls, **values: Any) -> Any:
        """A row with only some of its nullable fields (rows of several kinds, as the inbox's)."""
        return cls.Tuple(**{**cls._nulls, **values})

    @classmethod
    def json(cls, row: Any) -> dict[str, Any]:
        if isinstance(row, dict):
            return cls._json_dict(row)
        return cls._json_tuple(row)


def money(value: Any) -> str | None:
    """Yuan as people write them: ``"50000.00"`` whether ``50000`` or ``"5e4"`` was sent."""
    if value is None or value == "":
        return None
    try:
        return f"{Decimal(str(value)):.2f}"
    except InvalidOperation:
        return str(value)


def _compile(cls: type[Row], get: str) -> Callable[[Any], dict[str, Any]]:
    """``def json(r): return {...}``: one dict expression over the row's fields."""
    scope: dict[str, Any] = {"money": money}
    parts = []
    for i, c in enumerate(cls.columns):
        value = get.format(name=c.name)
        if c.kind == AMOUNT:
            value = f"money({value})"
        elif c.kind == LIST and c.nested is not None:
            scope[f"n{i}"] = c.nested.json
            value = f"[n{i}(x) for x in {value}]"
        if c.label_key:
            # The code is read once (``v3``) for both the field and its label.
            scope[f"l{i}"] = c.labels
            parts.append(f"{c.name!r}: (v{i} := {value})")
            parts.append(f"{c.label_key!r}: (None if v{i} is None else l{i}.get(v{i}, v{i}))")
        else:
            parts.append(f"{c.name!r}: {value}")
    source = "def json(r):\n    return {" + ", ".join(parts) + "}\n"
    exec(compile(source, f"<{cls.__name__}.json>", "exec"), scope)
    return scope["json"]


# -- cells of files ------------------------------------------------------------------------------

def _hits_cell(hits: list[dict[str, Any]]) -> str:
    parts = []
    for hit in hits:
        measured = ", ".join(f"{k}={v}" for k, v in hit["measured"].items() if v is not None)
        parts.append(f"{hit['rule']} {hit['rule_label']}（{hit['severity_label']}；{measured}）")
    return "；".join(parts)


def _counts_cell(catalogue: Catalogue) -> Callable[[dict[str, int]], str]:
    return lambda counts: " ".join(f"{catalogue.get(k, k)}:{v}" for k, v in (counts or {}).items())


def _points() -> list[tuple[str, Callable[[Any], Any]]]:
    return [(name, operator.itemgetter(d)) for d, name in labels.DIMENSIONS.items()]


def _proxy_cell(entries: list[dict[str, Any]] | None) -> str:
    """``作出承诺：张三代石练村党支部录入，原因：…`` per entry, as a sheet shows it."""
    return "；".join(
        f"{e['event_label']}：{e['entered_by_name']}代{e['on_behalf_of_name']}录入，"
        f"原因：{e['reason'] or ''}" for e in entries or ())


# -- the rows ------------------------------------------------------------------------------------

class RuleHitItem(Row):
    rule = Col(labels=labels.RULES, description="R1–R9")
    severity = Col(labels=labels.SEVERITIES)
    measured = Col(kind=MAPPING, description="the values the rule measured")


class ProxyEntryItem(Row):
    """A fact entered by someone for an organisation that is not their own (代录)."""

    event = Col(labels=labels.EVENT_TYPES, description="the fact entered, by its event type")
    day = Col(kind=DATE, description="its business date")
    entered_by_name = Col(description="who entered it: the account's name, else its role")
    entered_by_role = Col(labels=labels.ROLES, nullable=True)
    on_behalf_of_name = Col(description="the organisation it was entered for")
    reason = Col(nullable=True, description="why a proxy entered it")
    entered_by_id = Col(kind=ID)
    on_behalf_of_id = Col(kind=ID)
    activity_id = Col(kind=ID, nullable=True, description="the activity, for a pairing's")


def proxy_columns(nullable: bool = False, facts: str = "its facts") -> tuple[Col, Col]:
    """代录 of a report's item: whether any of its ``facts`` was entered by a proxy, and
    which.  (``nullable`` for rows built with ``some``: the report fills both in all the same.)"""
    return (Col(PROXY_ENTRY, BOOL, nullable=nullable,
                description=f"a proxy entered one of {facts} (代录)"),
            Col(f"{PROXY_ENTRY}说明", LIST, nested=ProxyEntryItem, cell=_proxy_cell,
                nullable=nullable,
                description=f"each of {facts} a proxy entered: who, for whom, why"))


class BoardItem(Row):
    """A pairing on the status board (结对状态) and the inactive list (联而不动预警)."""

    giver_name = Col("帮扶方")
    receiver_name = Col("受援方")
    region_code = Col("区划代码", REGION)
    state = Col(labels=labels.PAIRING_STATES, description="the lifecycle state")
    status = Col("综合状态", labels=labels.PAIRING_STATUSES,
                 description="the derived status: state and rule hits")
    term_start = Col(kind=DATE)
    term_end = Col("协议期满", DATE)
    in_force_on = Col("生效日期", DATE, nullable=True)
    last_activity_on = Col("最近确认活动", DATE, nullable=True,
                           description="last co-signed activity")
    cosigned_activities = Col("已确认活动数", INT)
    backfilled_activities = Col("补录活动数", INT)
    proxy_activities = Col(f"{PROXY_ENTRY}活动数", INT,
                           description="co-signed activities a proxy entered a side of (代录)")
    entered_by_proxy, proxy_entries = proxy_columns(
        facts="the acts on the pairing itself (proposal, acceptance, signatures, ...)")
    commitments = Col("承诺（按状态）", COUNTS, labels=labels.COMMITMENT_STATES,
                      description="count by state", cell=_counts_cell(labels.COMMITMENT_STATES))
    tasks = Col("项目（按状态）", COUNTS, labels=labels.TASK_STATES, description="count by state",
                cell=_counts_cell(labels.TASK_STATES))
    rule_hits = Col("预警规则", LIST, nested=RuleHitItem, cell=_hits_cell)
    rule_set_version = Col()
    pairing_id = Col("结对编号", ID)
    giver_id = Col(kind=ID)
    receiver_id = Col(kind=ID)


class CommitmentItem(Row):
    """A public commitment in the ledger (承诺台账)."""

    maker_name = Col("承诺方")
    beneficiary_name = Col("受益方")
    region_code = Col("区划代码", REGION)
    category = Col("类别", labels=labels.COMMITMENT_CATEGORIES)
    content = Col("承诺内容")
    quantity = Col("数量", QUANTITY, nullable=True)
    unit = Col("单位", nullable=True)
    amount_yuan = Col("金额（元）", AMOUNT, nullable=True)
    made_on = Col("承诺日期", DATE)
    publicised_on = Col("公示日期", DATE, nullable=True)
    original_due_on = Col("原定期限", DATE, nullable=True)
    due_on = Col("现期限", DATE, nullable=True)
    extensions = Col("延期次数", INT)
    claimed_on = Col("申报践诺日期", DATE, nullable=True)
    fulfilled_on = Col("确认践诺日期", DATE, nullable=True)
    abandoned_on = Col("放弃日期", DATE, nullable=True)
    state = Col("状态", labels=labels.COMMITMENT_STATES)
    kept_on_time = Col("按期践诺", BOOL, nullable=True)
    days_overdue = Col("逾期天数", INT)
    outcome = Col("评诺结果", labels=labels.OUTCOMES, nullable=True)
    backfilled = Col("补录", BOOL)
    entered_by_proxy, proxy_entries = proxy_columns()
    id = Col("承诺编号", ID)
    pairing_id = Col(kind=ID)
    maker_id = Col(kind=ID)
    beneficiary_id = Col(kind=ID)


class TaskItem(Row):
    """A need and its service task in the pipeline (项目清单)."""

    receiver_name = Col("需求方")
    region_code = Col("区划代码", REGION)
    category = Col("类别", labels=labels.TASK_CATEGORIES)
    title = Col("需求")
    raised_on = Col("提出日期", DATE)
    wanted_by = Col("期望完成", DATE, nullable=True)
    claimer_name = Col("认领方")
    claimed_on = Col("认领日期", DATE, nullable=True)
    due_on = Col("计划完成", DATE, nullable=True)
    delivered_on = Col("交付日期", DATE, nullable=True)
    value_yuan = Col("交付价值（元）", AMOUNT, nullable=True)
    confirmed_on = Col("确认日期", DATE, nullable=True)
    satisfaction = Col("满意度", labels=labels.SATISFACTION_LEVELS, nullable=True)
    state = Col("状态", labels=labels.TASK_STATES)
    confirmation_overdue = Col("确认超期", BOOL)
    rejections = Col("退回次数", INT)
    backfilled = Col("补录", BOOL)
    entered_by_proxy, proxy_entries = proxy_columns()
    id = Col("项目编号", ID)
    receiver_id = Col(kind=ID)
    claimer_id = Col(kind=ID, nullable=True)


class CoverageRow(Row):
    """Villages and giving organisations of one region (覆盖情况)."""

    region_code = Col("区划代码", REGION)
    villages = Col("村（社区）数", INT)
    villages_paired = Col("已结对村数", INT)
    villages_income_unknown = Col("集体收入未报村数", INT)
    weak_villages = Col("薄弱村数", INT)
    weak_villages_paired = Col("已结对薄弱村数", INT)
    weak_coverage = Col("薄弱村覆盖率", SHARE, nullable=True,
                        description="share of weak villages paired")
    agencies = Col("帮扶单位数", INT)
    agencies_paired = Col("已结对帮扶单位数", INT)


class OrganisationRow(Row):
    """A giving organisation with no pairing in force."""

    name = Col("党组织")
    code = Col("组织代码")
    kind = Col("类型", labels=labels.ORGANISATION_KINDS)
    region_code = Col("区划代码", REGION)
    organisation_id = Col(kind=ID)


class WeakVillage(OrganisationRow):
    """A weak village with no pairing in force."""

    income_year = Col("收入年度", INT)
    income_yuan = Col("集体经济收入（元）", AMOUNT)


class FollowUpItem(Row):
    """An open follow-up case (督办)."""

    responsible_name = Col("责任组织")
    region_code = Col("区划代码", REGION)
    rule = Col("督办事由", labels=labels.FOLLOWUP_REASONS)
    subject_type = Col(labels=labels.SUBJECT_TYPES)
    severity = Col("程度", labels=labels.SEVERITIES)
    state = Col("状态", labels=labels.FOLLOWUP_STATES)
    opened_on = Col("立案日期", DATE)
    age_days = Col("已开天数", INT)
    responded_on = Col("答复日期", DATE, nullable=True)
    response = Col("答复内容", nullable=True,
                   description="the latest answer of the responsible organisation")
    id = Col("案件编号", ID)
    subject_id = Col(kind=ID)
    responsible_id = Col(kind=ID)


class FollowUpRegion(Row):
    region_code = Col("区划代码", REGION)
    open = Col("待答复", INT)
    responded = Col("已答复", INT)
    red = Col("严重", INT)
    days_0_30 = Col("30天内", INT)
    days_31_90 = Col("31至90天", INT)
    days_over_90 = Col("90天以上", INT)


class PairingScore(Row):
    """A pairing's 五好 points for a year (结对考评)."""

    giver_name = Col("帮扶方")
    receiver_name = Col("受援方")
    region_code = Col("区划代码", REGION)
    points = Col(kind=MAPPING, description="points per 五好 dimension",
                 expand=_points())
    total = Col("总分", POINTS)
    grade = Col("等次")
    indicators = Col(kind=MAPPING, description="what the points were computed from")
    pairing_id = Col("结对编号", ID)
    giver_id = Col(kind=ID)
    receiver_id = Col(kind=ID)


class OrganisationScore(Row):
    """An organisation's mean over its pairings: listed by name, never ranked."""

    name = Col("党组织")
    pairings = Col("结对数", INT)
    points = Col(kind=MAPPING, description="points per 五好 dimension", expand=_points())
    total = Col("平均分", POINTS)
    grade = Col("等次")
    organisation_id = Col(kind=ID)


class InboxItem(Row):
    """An answer only this organisation can give (待办)."""

    kind = Col("待办事项", labels=labels.INBOX_KINDS, label_as="label")
    counterpart = Col("对方", nullable=True)
    title = Col("内容", nullable=True)
    since = Col("自", DATE, nullable=True)
    activity_kind = Col(labels=labels.ACTIVITY_KINDS, nullable=True)
    content = Col(nullable=True)
    pairing_id = Col("结对编号", ID, nullable=True)
    activity_id = Col(kind=ID, nullable=True)
    commitment_id = Col(kind=ID, nullable=True)
    task_id = Col(kind=ID, nullable=True)
    followup_id = Col(kind=ID, nullable=True)
    rule = Col(labels=labels.FOLLOWUP_REASONS, nullable=True)
    severity = Col(labels=labels.SEVERITIES, nullable=True)
    subject_type = Col(labels=labels.SUBJECT_TYPES, nullable=True)
    subject_id = Col(kind=ID, nullable=True)
    evaluation_id = Col(kind=ID, nullable=True)
    year = Col(kind=INT, nullable=True)
    entered_by_proxy, proxy_entries = proxy_columns(nullable=True)
