"""The browser tests are skipped only where a developer has no browser, never in CI."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import browser_support


def test_without_chromedriver_a_developer_skips_and_ci_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(browser_support, "CHROMEDRIVER", tmp_path / "no-chromedriver")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        browser_support.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        browser_support.require_browser()
    assert ".ci/browser.sh" in str(failed.value)


@pytest.mark.skipif(not Path("/usr/bin/chromedriver").exists(), reason="no chromedriver here")
def test_with_chromedriver_nothing_is_skipped(monkeypatch):
    monkeypatch.setenv("CI", "true")
    browser_support.require_browser()  # neither skips nor fails
