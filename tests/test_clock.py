"""The hand-set clock of rehearsals and end-to-end tests (COBUILD_CLOCK_FILE)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from workflows.store.clock import LOCAL_TZ, FileClock, SystemClock, clock_of
from workflows.store.settings import ConfigurationError, Settings


def test_the_clock_runs_from_the_time_written_and_never_goes_back(tmp_path):
    path = tmp_path / "clock"
    june = datetime(2025, 6, 15, 9, 0, tzinfo=LOCAL_TZ)
    FileClock.write(path, june)
    clock = FileClock(path)
    first = clock.now()
    assert june <= first < june + timedelta(minutes=5)
    assert clock.now() >= first
    FileClock.write(path, june + timedelta(days=200))
    assert clock.now() >= june + timedelta(days=200)
    later = clock.now()
    FileClock.write(path, june)  # an earlier time is ignored
    assert clock.now() >= later


def test_the_setting_names_the_file_and_a_bad_one_is_refused(tmp_path):
    assert isinstance(clock_of(""), SystemClock)
    settings = Settings.from_env({"COBUILD_HOME": str(tmp_path), "COBUILD_CLOCK_FILE": "x"})
    assert settings.clock_file == "x" and settings.environ()["COBUILD_CLOCK_FILE"] == "x"
    with pytest.raises(ConfigurationError):
        clock_of(str(tmp_path / "missing"))
    (tmp_path / "naive").write_text("2025-06-15T09:00:00")
    with pytest.raises(ConfigurationError):
        clock_of(str(tmp_path / "naive"))
