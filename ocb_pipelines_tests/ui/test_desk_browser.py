"""The review desk in a real browser: Debian's Chromium (Playwright) against a real `ocb serve` on 127.0.0.1.

One copy of the prepared desk project (ocb_pipelines_tests/web/conftest.py: 2025-01 open with pending charges
of several reasons, users ada=admin, rita=reviewer, vic=viewer), one server and one browser for the module. The
tests run in order and build on each other as the month end does: a viewer looks and is refused, hostile tags
show as text, the reviewer empties the queue, the admin closes the month and takes the statements and the
journal. axe-core (vendored from npm, ocb_pipelines_tests/web/vendor) checks every page once; the desk's CSP
allows scripts from the desk only, so the axe checks run in a context that bypasses it. With
$OCB_SCREENSHOTS_DIR set the docs' screenshots of the desk are saved there (docs/make_screenshots.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines_tests.smtp import free_port
from ocb_pipelines_tests.ui.test_browser import CHROMIUM, CHROMIUM_FLAGS
from ocb_pipelines_tests.web import conftest as web

desk_template = web.desk_template  # the prepared project, built once per test process
MONTH = web.MONTH
PASSWORD = web.PASSWORD
AXE = Path(__file__).resolve().parents[1] / "web" / "vendor" / "axe.min.js"
HOSTILE = web.HOSTILE
GOOD_FUND = "ASTR-100234"
SERVER_START_TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")


@dataclass
class Served:
    """The running desk: its project, its address and the module's browser."""

    root: Path
    settings: OcbSettings
    base: str
    browser: Browser
    log: Path

    def context(self, user: str | None = None, **options) -> BrowserContext:
        """A fresh browser context (its own cookies and storage), signed in as `user` through the login form."""
        context = self.browser.new_context(base_url=self.base, viewport={"width": 1280, "height": 900}, **options)
        context.set_default_timeout(15_000)
        if user:
            page = context.new_page()
            sign_in(page, user)
            page.close()
        return context


def sign_in(page: Page, user: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Months")).to_be_visible()


def ocb_executable() -> str:
    beside = Path(sys.executable).parent / "ocb"
    return str(beside) if beside.exists() else (shutil.which("ocb") or "ocb")


def wait_until_serving(base: str, process: subprocess.Popen, log: Path) -> None:
    """Poll the login page until it answers, failing at once if the server exits and after a deadline."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ocb serve exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/login", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"ocb serve did not answer within {SERVER_START_TIMEOUT:.0f}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(desk_template: Path, tmp_path_factory) -> Iterator[Served]:
    """A copy of the prepared project, `ocb serve` on a free loopback port, and one Chromium."""
    root = tmp_path_factory.mktemp("desk-browser") / "project"
    shutil.copytree(desk_template, root)
    settings = load_config(root / "config.yaml")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = root / "serve.log"
    env = {**os.environ, "DAGSTER_HOME": str(root / "data" / "dagster_home"), "PYTHONWARNINGS": "ignore"}
    with log.open("wb") as out:
        process = subprocess.Popen([ocb_executable(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                    "-c", str(root / "config.yaml")], cwd=root, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        wait_until_serving(base, process, log)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
            try:
                yield Served(root, settings, base, browser, log)
            finally:
                browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def auditor(served: Served) -> Iterator[Page]:
    """ada's page for the axe checks, in a context that bypasses the desk's CSP so axe can be injected."""
    context = served.context(bypass_csp=True)
    page = context.new_page()
    check_accessible(page, "/login")
    sign_in(page, "ada")
    try:
        yield page
    finally:
        context.close()


def check_accessible(page: Page, path: str | None = None) -> None:
    """axe-core on the page (after going to `path`): no violation of impact serious or critical."""
    if path is not None:
        page.goto(path)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [f"{v['id']} ({v['impact']}): {v['help']} -- "
           + "; ".join(" ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
                       for n in v["nodes"][:5])
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {page.url}:\n" + "\n".join(bad)


class Screenshots:
    """The docs' screenshots of the desk, saved only when $OCB_SCREENSHOTS_DIR is set."""

    def __init__(self) -> None:
        folder = os.environ.get("OCB_SCREENSHOTS_DIR", "")
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str) -> None:
        if self.folder:
            page.screenshot(path=str(self.folder / f"desk-{name}.png"), full_page=True)


shots = Screenshots()


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value") or ""


def no_dialogs(page: Page) -> list[str]:
    """Record every alert/confirm/prompt the page opens (a hostile value that ran as script would open one)."""
    fired: list[str] = []

    def record(dialog) -> None:
        fired.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return fired


# ------------------------------------------------------------------------------------------------
# The tests, in the order of a month end
# ------------------------------------------------------------------------------------------------


def test_the_theme_switch_turns_dark_mode_on_and_it_persists(served: Served, auditor: Page):
    context = served.context("vic")
    page = context.new_page()
    try:
        page.goto("/")
        shots.take(page, "months")
        check_accessible(auditor, "/")
        switch = page.locator("#theme-switch")
        expect(switch).to_have_text("Dark mode")
        light_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        switch.click()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(switch).to_have_text("Light mode")
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(page.locator("#theme-switch")).to_have_text("Light mode")
        dark_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert dark_background != light_background
        shots.take(page, "months-dark")
    finally:
        context.close()
    auditor.emulate_media(color_scheme="dark")  # the system's dark mode, no switch used
    try:
        check_accessible(auditor, "/")
        assert auditor.evaluate("getComputedStyle(document.body).backgroundColor") == dark_background
    finally:
        auditor.emulate_media(color_scheme="light")
