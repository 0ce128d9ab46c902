"""The one source of time.  Nothing else in cobuild reads the system clock.

Times are stored in UTC; business dates are local to Asia/Shanghai.  China has kept UTC+8
without daylight saving since 1991, so a fixed offset is exact for every date cobuild sees
and needs no time-zone database on the host.
"""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

LOCAL_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FakeClock:
    """A clock that tests move forward instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            if moment.astimezone(timezone.utc) < self._now:
                raise ValueError("time does not go backwards")
            self._now = moment.astimezone(timezone.utc)


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def start_of_local_day(day: date) -> datetime:
    """Midnight of a local date, as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(timezone.utc)
