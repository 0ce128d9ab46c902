"""Forms of the people's pages: read what a person typed, say in Chinese beside the field
what is wrong, and hand the engine typed values.

The rules stay the engine's: a form checks only what a field must look like (a date, an
amount, not blank) and leaves every rule of the domain (a date after the proposal, the
other side co-signs) to the command, whose refusal is put beside the field it names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping, TypeVar

from flask import current_app, render_template

from domain.errors import DomainError, InvalidValue, NotPermitted, WrongState
from domain.labels import Catalogue
from workflows.errors import ConcurrencyConflict, StaleVersion
from workflows.store.clock import LOCAL_TZ

T = TypeVar("T")
_AMOUNT = re.compile(r"^\d{1,13}(\.\d{1,2})?$")


@dataclass
class Form:
    """The fields of one POST, with an error per field in the words a person reads."""

    data: Mapping[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def raw(self, name: str) -> str:
        return (self.data.get(name) or "").strip()

    def fail(self, name: str, words: str) -> None:
        self.errors.setdefault(name, words)

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self, name: str, label: str, max_length: int = 200, required: bool = True) -> str | None:
        self.labels[name] = label
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, f"请填写{label}")
            return None
        if len(value) > max_length:
            self.fail(name, f"{label}最多 {max_length} 个字，现在有 {len(value)} 个")
            return None
        return value

    def choice(self, name: str, label: str, catalogue: Catalogue, required: bool = True) -> str | None:
        self.labels[name] = label
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, f"请选择{label}")
            return None
        if value not in catalogue:
            self.fail(name, f"请从列表中选择{label}")
            return None
        return value

    def day(self, name: str, label: str, required: bool = True, today: date | None = None) -> date | None:
        """A date as the date field sends it (``2026-03-01``); with ``today``, not later."""
        self.labels[name] = label
        value = self.raw(name).replace("/", "-")
        if not value:
            if required:
                self.fail(name, f"请填写{label}")
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.fail(name, f"{label}请按 2026-03-01 的格式填写")
            return None
        if day.year < 2000:
            self.fail(name, f"{label}不能早于 2000 年")
            return None
        if today is not None and day > today:
            self.fail(name, f"{label}不能晚于今天")
            return None
        return day

    def amount(self, name: str, label: str, required: bool = False) -> Decimal | None:
        """Yuan with at most two decimals (``50000`` or ``50,000.00``)."""
        self.labels[name] = label
        value = self.raw(name).replace(",", "").replace("，", "").removesuffix("元").strip()
        if not value:
            if required:
                self.fail(name, f"请填写{label}")
            return None
        if not _AMOUNT.match(value):
            self.fail(name, f"{label}请填写金额数字，例如 5000 或 5000.50")
            return None
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            self.fail(name, f"{label}请填写金额数字")
            return None

    def whole(self, name: str, label: str, most: int = 100000) -> int | None:
        """A count of people; blank is none."""
        self.labels[name] = label
        value = self.raw(name)
        if not value:
            return None
        if not value.isdigit() or int(value) > most:
            self.fail(name, f"{label}请填写 0 到 {most} 之间的整数")
            return None
        return int(value)

    def refused(self, invalid: InvalidValue, fields: Mapping[str, str]) -> None:
        """Put the engine's refusal beside the field it names (``fields``: the command's
        field name → the form's)."""
        name = fields.get(invalid.field, next(iter(fields.values()), invalid.field))
        self.fail(name, engine_words(invalid, self.labels.get(name, "")))


def engine_words(invalid: InvalidValue, label: str) -> str:
    """The domain's refusal of a value, in Chinese."""
    message = invalid.message
    if "in the future" in message:
        return f"{label}不能晚于现在"
    if "before 2000" in message:
        return f"{label}不能早于 2000 年"
    if "must not be blank" in message or "reason is required" in message:
        return f"请填写{label}"
    if "at most" in message and "characters" in message:
        return f"{label}太长，请删减一些"
    if "dated before" in message or "before the pairing was accepted" in message:
        return f"{label}不能早于之前的环节（{_iso_day(message)}）"
    if "dated after" in message:
        return f"{label}不能晚于报告的时间"
    if "must be after" in message:
        return f"{label}必须晚于开始日期"
    if "greater than zero" in message:
        return f"{label}必须大于零"
    if "measurable target" in message or "needs a unit" in message or "needs a quantity" in message:
        return "请填写数量和单位，或者金额（至少一项）"
    if "decimal places" in message:
        return f"{label}最多保留两位小数"
    return f"{label}填写有误，请检查后再提交"


def _iso_day(message: str) -> str:
    found = re.search(r"\d{4}-\d{2}-\d{2}", message)
    if not found:
        return "之前"
    day = date.fromisoformat(found.group(0))
    return f"{day.year}年{day.month}月{day.day}日"


def moment(day: date, now: datetime) -> datetime:
    """The time of a thing that happened on ``day`` (a person gives the day, not the hour):
    now, if it is today; else midday, Shanghai time."""
    local_now = now.astimezone(LOCAL_TZ)
    if day >= local_now.date():
        return now
    return datetime.combine(day, time(12, 0), LOCAL_TZ)


# Refusals of a rule (not a field) shown above the form, in words.
RULE_WORDS = {
    "other-side-cosigns": "活动由对方确认，记录的一方不能自己确认。",
    "own-confirmation": "交付由受援方确认，交付的一方不能自己确认。",
    "own-rating": "满意度由受援方评价。",
    "sign-once": "你方已经签过协议，等待对方签订。",
    "activity-answered-once": "这项活动已经确认或退回过了。",
    "claim-window": "这项需求还在结对单位认领期内，进入领办大厅后才能认领。",
    "receiver-accepts": "结对由受援方接受。",
    "maker-only": "承诺由作出承诺的一方办理。",
    "claimer-only": "只有认领的单位可以办理这一步。",
    "receiver-only": "只有提出需求的村（社区）可以办理这一步。",
    "rated-once": "你方已经在本轮考核中评过对方了，不能重复评分。",
    "party-only": "只有结对双方可以互评。",
}


def rule_words(error: DomainError) -> str:
    if isinstance(error, NotPermitted) and error.rule in RULE_WORDS:
        return RULE_WORDS[error.rule]
    if isinstance(error, WrongState):
        return "这一步现在不能办理：状态已经变了。请查看下面的最新情况。"
    if isinstance(error, (ConcurrencyConflict, StaleVersion)):
        return "刚才有人同时办理了这一项，你的提交没有保存。请查看最新情况后再试。"
    if error.code == "duplicate":
        return "你们之间已经有一个有效的结对，不能重复发起。"
    return "这一步现在不能办理。请查看下面的最新情况。"


def attempt(form: Form, fields: Mapping[str, str], command: Callable[[], T]) -> tuple[T | None, str | None]:
    """Run ``command`` if the form is filled in properly: its outcome, or the words of a
    refusal of a rule (a refused value goes beside its field instead).  Not allowed
    (Forbidden) and not found pass through to their pages."""
    if not form.ok:
        return None, None
    try:
        return command(), None
    except InvalidValue as invalid:
        form.refused(invalid, fields)
        return None, None
    except (NotPermitted, WrongState, ConcurrencyConflict, StaleVersion) as refusal:
        return None, rule_words(refusal)
    except DomainError as refusal:
        if refusal.code in ("forbidden", "not-found", "unauthenticated"):
            raise
        current_app.logger.info("refused on a page: %s", refusal)
        return None, rule_words(refusal)


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status
