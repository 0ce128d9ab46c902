"""Real-browser tests: a real ``cobuild serve`` on a loopback port with a fresh data folder,
driven by Debian's headless Chromium through its chromedriver (installed by .ci/browser.sh;
nothing downloads a browser).

Use in a test module::

    from tests.browser_support import browser_fixtures
    pytestmark = pytest.mark.browser
    globals().update(browser_fixtures())

    def test_something(server, phone):
        phone.open("/login")
        phone.shot("sign-in")

Each test gets ``server`` (the running process and the ``cobuild`` command on its data
folder) and ``phone`` (375×812) or ``desktop`` (1366×900) browsers.  ``shot(name)`` saves
``tests/screenshots/<test>/<nn>-<width>-<name>.png`` for a person to look at after a run.

Without /usr/bin/chromedriver the tests are skipped on a developer's machine, and fail in CI
(``CI=true``): a CI run that silently skipped every page test would prove nothing.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "tests" / "screenshots"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
PHONE = (375, 812)
DESKTOP = (1366, 900)
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--no-default-browser-check",
                  "--disable-extensions", "--lang=zh-CN", "--hide-scrollbars")
_URL = re.compile(r"(https?://(?:127\.0\.0\.1|localhost|\[::1\]):[0-9]+)")


def require_browser() -> None:
    """Skip (on a developer's machine) or fail (in CI) when the browser is not installed."""
    missing = [str(p) for p in (CHROMEDRIVER, CHROMIUM) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    if not missing:
        return
    message = f"no browser for the page tests: missing {', '.join(missing)}; run .ci/browser.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def cobuild_command() -> list[str]:
    """The installed ``cobuild`` entry point of this interpreter's environment."""
    script = Path(sys.executable).with_name("cobuild")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from api.cli.main import main; main()"]


class Server:
    """``cobuild serve --port 0`` in its own process, with its own data folder.

    Its output is read by a thread all along (a full pipe would stall the server) and kept
    for the test to check after it stops."""

    def __init__(self, home: Path, start_timeout: float = 60.0) -> None:
        self.home = home
        self.admin_token = secrets.token_urlsafe(24)
        self.env = {**os.environ, "COBUILD_HOME": str(home),
                    "COBUILD_BOOTSTRAP_TOKEN": self.admin_token, "PYTHONPATH": str(REPO),
                    "PYTHONUNBUFFERED": "1"}
        for name in ("COBUILD_DATABASE_URL", "COBUILD_BROKER_URL"):
            self.env.pop(name, None)
        self.lines: list[str] = []
        self._found = threading.Event()
        self.base_url = ""
        self.process = subprocess.Popen(
            [*cobuild_command(), "serve", "--host", "127.0.0.1", "--port", "0"], cwd=REPO,
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._found.wait(start_timeout) or not self.base_url:
            self.stop()
            raise RuntimeError("cobuild serve did not start:\n" + "\n".join(self.lines))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if not self.base_url:
                match = _URL.search(line)
                if match:
                    self.base_url = match.group(1)
                    self._found.set()
        self._found.set()  # the process ended: stop waiting

    def cobuild(self, *args: str) -> str:
        """Run a ``cobuild`` subcommand on the server's data folder, as its operator would."""
        done = subprocess.run([*cobuild_command(), *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"cobuild {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=10)
        return "\n".join(self.lines)


@dataclass
class Page:
    """A headless Chromium at one size, speaking to the server as a person does."""

    driver: Any
    base_url: str
    shots: Path
    label: str
    counter: Callable[[], int]
    taken: list[Path] = field(default_factory=list)

    def open(self, path: str) -> "Page":
        self.driver.get(self.base_url + path)
        return self

    @property
    def path(self) -> str:
        url = self.driver.current_url
        return url[len(self.base_url):] if url.startswith(self.base_url) else url

    @property
    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def fill(self, label: str, value: str) -> "Page":
        """Type into the field whose visible label is ``label``."""
        from selenium.webdriver.common.by import By

        target = self.driver.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
        field_ = self.driver.find_element(By.ID, target.get_attribute("for"))
        field_.clear()
        field_.send_keys(value)
        return self

    def press(self, words: str) -> "Page":
        """Click the button or link that says ``words``, and wait for the next page."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        xpath = (f"//button[normalize-space()='{words}'] | //a[normalize-space()='{words}']"
                 f" | //input[@type='submit' and @value='{words}']")
        visible = [e for e in self.driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
        assert visible, f"no visible button or link says {words!r} on {self.path}"
        old = self.driver.find_element(By.TAG_NAME, "html")
        visible[0].click()
        WebDriverWait(self.driver, 20).until(lambda d: left(old))
        WebDriverWait(self.driver, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        return self

    def fits(self) -> bool:
        """No sideways scrolling: the page is no wider than the window."""
        return self.driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth")

    def serious_accessibility_problems(self) -> list[str]:
        """axe-core's critical and serious findings on the page as it stands (the vendored
        copy, fetched from the server: nothing comes from elsewhere)."""
        import urllib.request

        with urllib.request.urlopen(f"{self.base_url}/assets/vendor/axe-core/axe.min.js",
                                    timeout=30) as answer:
            self.driver.execute_script(answer.read().decode("utf-8"))
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done(r.violations.map(v => [v.id, v.impact, v.help, v.nodes.length])))"
            ".catch(e => done([['axe-error', 'critical', String(e), 0]]));")
        return [f"{rule} ({impact}): {help_} on {count} element(s)"
                for rule, impact, help_, count in result if impact in ("critical", "serious")]

    def shot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{self.counter():02d}-{self.label}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.taken.append(path)
        return path


def start_chromium(width: int, height: int, profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    if width < 720:
        # A phone: the page's viewport meta and touch rules apply as on a real one.
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": True}})
    # The driver path is given, so Selenium Manager never looks for (or downloads) one.
    from selenium.common.exceptions import WebDriverException

    for attempt in (1, 2):
        service = Service(executable_path=str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
        try:
            driver = webdriver.Chrome(service=service, options=options)
            break
        except WebDriverException:
            # On a busy two-core machine Chromium can miss the driver's start-up deadline
            # once; a second start is honest (nothing of the test has run yet).
            if attempt == 2:
                raise
    driver.set_page_load_timeout(60)
    return driver


def browser_fixtures() -> dict[str, Any]:
    """The fixtures, for a test module's globals (the shared conftest stays untouched)."""

    @pytest.fixture
    def server(tmp_path: Path) -> Iterator[Server]:
        require_browser()
        running = Server(tmp_path / "var")
        yield running
        output = running.stop()
        assert "Traceback" not in output, output

    @pytest.fixture
    def shots_folder(request: pytest.FixtureRequest) -> Path:
        folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        shutil.rmtree(folder, ignore_errors=True)  # only this run's pictures
        return folder

    @pytest.fixture
    def counter() -> Callable[[], int]:
        count = iter(range(1, 1000))
        return lambda: next(count)

    def _page(size: tuple[int, int], label: str, server: Server, folder: Path,
              counter: Callable[[], int]) -> Iterator[Page]:
        require_browser()
        profile = Path(tempfile.mkdtemp(prefix="cobuild-chromium-"))
        driver = start_chromium(*size, profile)
        try:
            yield Page(driver, server.base_url, folder, label, counter)
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)

    @pytest.fixture
    def phone(server: Server, shots_folder: Path, counter) -> Iterator[Page]:
        yield from _page(PHONE, "phone", server, shots_folder, counter)

    @pytest.fixture
    def desktop(server: Server, shots_folder: Path, counter) -> Iterator[Page]:
        yield from _page(DESKTOP, "desktop", server, shots_folder, counter)

    return {"server": server, "shots_folder": shots_folder, "counter": counter,
            "phone": phone, "desktop": desktop}


def left(element: Any) -> bool:
    """The page ``element`` belonged to has been left.  Chromedriver says so either as a
    stale reference or, when the new document replaced it mid-check on a loaded machine, as
    an inspector error ("Node with given id does not belong to the document")."""
    from selenium.common.exceptions import WebDriverException

    try:
        element.is_enabled()
    except WebDriverException:
        return True
    return False
