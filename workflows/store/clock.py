"""The one source of time.  Nothing else in cobuild reads the system clock.

Times are stored in UTC; business dates are local to Asia/Shanghai.  China has kept UTC+8
without daylight saving since 1991, so a fixed offset is exact for every date cobuild sees
and needs no time-zone database on the host.
"""
from __future__ import annotations

import os
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from workflows.store.settings import ConfigurationError

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


class FileClock:
    """A clock set by hand, for rehearsals (培训演练) and end-to-end tests of a real server:
    the time written in a file (ISO 8601 with an offset), running on from the moment the
    file was written.  It never goes backwards: a time earlier than the clock is ignored.
    ``COBUILD_CLOCK_FILE`` names the file; production leaves it unset (the system clock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[float, datetime] | None = None
        self._last = datetime.min.replace(tzinfo=timezone.utc)
        try:
            self.now()  # a file that cannot be read is a setting error, found at start
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"COBUILD_CLOCK_FILE {self.path}: {error}") from None

    @staticmethod
    def write(path: Path, moment: datetime) -> None:
        """Set the clock of every process reading ``path`` (atomically: written, then renamed)."""
        if moment.tzinfo is None:
            raise ValueError("the clock needs a time with an offset")
        partial = Path(f"{path}.partial")
        partial.write_text(moment.isoformat() + "\n", encoding="utf-8")
        os.replace(partial, path)

    def now(self) -> datetime:
        with self._lock:
            written = os.stat(self.path).st_mtime
            if self._seen is None or self._seen[0] != written:
                moment = datetime.fromisoformat(self.path.read_text(encoding="utf-8").strip())
                if moment.tzinfo is None:
                    raise ValueError(f"{self.path}: the time needs an offset, like +08:00")
                self._seen = (written, moment.astimezone(timezone.utc))
            set_at, moment = self._seen
            elapsed = max(0.0, datetime.now(timezone.utc).timestamp() - set_at)
            self._last = max(self._last, moment + timedelta(seconds=elapsed))
            return self._last


def clock_of(clock_file: str) -> Clock:
    """The system clock, or the hand-set one a rehearsal names."""
    return FileClock(Path(clock_file)) if clock_file else SystemClock()


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def start_of_local_day(day: date) -> datetime:
    """Midnight of a local date, as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(timezone.utc)
