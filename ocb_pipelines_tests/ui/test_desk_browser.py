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

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright
from pypdf import PdfReader

from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.services.month_summary import month_summary
from ocb_pipelines_tests.smtp import free_port
from ocb_pipelines_tests.ui.test_browser import CHROMIUM, CHROMIUM_FLAGS
from ocb_pipelines_tests.web import conftest as web

MONTH = web.MONTH
PASSWORD = web.PASSWORD
AXE = Path(__file__).resolve().parents[1] / "web" / "vendor" / "axe.min.js"
HOSTILE = web.HOSTILE
ADA = web.GOOD_TAGS["pi_email"]
GOOD_FUND = "ASTR-100234"
SERVER_START_TIMEOUT = 60.0
RUN_MS = 180_000  # an action that starts a Dagster run (close, render, export) answers when the run has ended
# The main actions, as their forms post them: a viewer gets 403 on each (the full sweep is test_api's).
VIEWER_ACTIONS = [
    (f"/months/{MONTH}/review/decide", {"decision": "approve", "note": "viewer", "scope": "filter"}),
    (f"/months/{MONTH}/close", {"note": "viewer"}),
    (f"/months/{MONTH}/statements/render", {}),
    (f"/months/{MONTH}/reopen", {"reason": "viewer"}),
    (f"/months/{MONTH}/finalize", {"note": "viewer"}),
    (f"/months/{MONTH}/statements/send", {}),
    (f"/months/{MONTH}/statements/resend", {"pi": "ada.lovelace@example.edu", "note": "viewer"}),
    (f"/months/{MONTH}/journal/export", {"format": "gl"}),
    ("/imports", {}),
]

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


@pytest.fixture(scope="module", autouse=True)
def patient_expect() -> Iterator[None]:
    """Pages on a busy 2-core machine: expect() waits up to 15 s here (Playwright's default is 5 s)."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


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

    def take(self, page: Page, name: str, down_to: Locator | None = None) -> None:
        """The whole page, or its top down to the end of `down_to` (a long page's part worth showing)."""
        if not self.folder:
            return
        clip = None
        if down_to is not None:
            box = down_to.bounding_box()
            assert box is not None
            clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": box["y"] + box["height"] + 16}
        page.screenshot(path=str(self.folder / f"desk-{name}.png"), full_page=True, clip=clip)


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


def money_of(text: str) -> Decimal:
    """An amount as the desk shows it ($1,234.56, or -$1.00) as an exact Decimal."""
    match = re.search(r"(-?)\$?(-?[\d,]+\.\d+)", text)
    assert match, f"no amount in {text!r}"
    return Decimal(match.group(1) + match.group(2).replace(",", ""))


# The queue and its decision form, as the review page (routes/review.py, templates/review.html) labels them.


def queue_rows(page: Page):
    return page.locator("table.data tbody tr")


def filter_queue(page: Page, **filters: str) -> None:
    """Fill the queue's filter form (field label -> value; a <select> by option value) and apply it."""
    form = page.get_by_role("search", name="Filter the queue")
    for label, value in filters.items():
        field = form.get_by_label(label, exact=True)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button", name="Filter").click()


SCOPES = {"checked": "Decide the checked charges", "filter": re.compile(r"^Decide all \d+ charges")}


def decide(page: Page, decision: str, note: str, scope: str, **corrections: str) -> None:
    """Fill the decision form: Approve, Reject or Correct (the corrected fields by label), a note, and send it
    for `scope`: the checked charges or everything matching the filter. Waits for the result page."""
    form = page.locator("form#decide")
    form.get_by_label("Decision", exact=True).select_option(label=decision)
    for label, value in corrections.items():
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_label("Note (required: why)").fill(note)
    form.get_by_role("button", name=SCOPES[scope]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Decision applied")


def queue_total(page: Page):
    return page.locator("#queue-total")


def test_a_viewer_sees_every_page_but_every_action_is_refused(served: Served):
    context = served.context("vic")
    page = context.new_page()
    try:
        for path in ("/", f"/months/{MONTH}", f"/months/{MONTH}/review", "/imports", f"/months/{MONTH}/statements",
                     f"/months/{MONTH}/journal", "/audit", "/settings", f"/months/{MONTH}/pi?email={ADA}"):
            answer = page.goto(path)
            assert answer is not None and answer.status == 200, f"{path}: {answer and answer.status}"
            expect(page.locator("h1")).to_have_count(1)
        page.goto(f"/months/{MONTH}/review")
        expect(page.locator("form#decide")).to_have_count(0)  # no decision form to a viewer
        token = csrf_of(page)
        assert token
        for path, fields in VIEWER_ACTIONS:
            answer = page.request.post(path, form={"csrf_token": token, **fields}, max_redirects=0)
            assert answer.status == 403, f"POST {path} as a viewer: {answer.status}"
            assert "vic is a viewer" in answer.text(), answer.text()
        page.reload()
        expect(queue_total(page)).to_contain_text("6 charges, $64.00")  # nothing was decided
    finally:
        context.close()


def test_hostile_tag_values_show_as_text_on_the_queue_and_the_charge_page(served: Served, auditor: Page):
    context = served.context("vic")
    page = context.new_page()
    dialogs = no_dialogs(page)
    try:
        page.goto(f"/months/{MONTH}/review")
        check_accessible(auditor, f"/months/{MONTH}/review")
        row = queue_rows(page).filter(has_text="i-hostile")
        for value in HOSTILE.values():
            expect(row.get_by_text(value, exact=False).first).to_be_visible()
        row.get_by_role("link").first.click()
        expect(page).to_have_url(re.compile(r"/charges/\w+"))
        for value in HOSTILE.values():
            expect(page.get_by_text(value, exact=False).first).to_be_visible()
        assert page.locator("script:not([src])").count() == 0  # no element made from a value
        assert "<script>alert(1)" not in page.content()  # in the DOM as text only (&lt;script&gt;)
    finally:
        context.close()
    assert dialogs == []


def test_a_reviewer_empties_the_queue(served: Served, auditor: Page):
    """rita filters by reason, rejects the ownerless charges by filter, corrects one fund, approves the rest by
    filter (the charge approval cannot take is reported, then corrected), and the month adds up."""
    context = served.context("rita")
    page = context.new_page()
    queue = f"/months/{MONTH}/review"
    try:
        page.goto(queue)
        filter_queue(page, Reason="missing_pi_email")
        expect(page).to_have_url(re.compile(r"reason=missing_pi_email"))
        expect(queue_rows(page)).to_have_count(2)
        expect(queue_total(page)).to_contain_text("2 charges, $20.00 match the filter")
        shots.take(page, "review-by-reason")
        decide(page, "Reject", "no PI: not billed here", "filter")
        expect(page.get_by_role("status").first).to_contain_text("2 charge(s) rejected ($20.00) as rita")

        page.goto(f"{queue}?reason=invalid_fund_org")
        expect(queue_rows(page)).to_have_count(2)
        fund_1 = queue_rows(page).filter(has_text="i-fund-1")
        charge_page = fund_1.get_by_role("link").first.get_attribute("href") or ""
        fund_1.get_by_role("checkbox").check()
        decide(page, "Correct PI / project / fund", "fund from the PI's email", "checked",
               **{"New fund (correct)": GOOD_FUND})
        expect(page.get_by_role("status").first).to_contain_text("1 charge(s) corrected ($30.00) as rita")
        page.goto(charge_page)  # its decision history shows the correction, by rita, with the note
        history = page.get_by_role("table", name="Every decision on this charge, oldest first")
        expect(history).to_contain_text("fund_org = ASTR-100234")
        expect(history).to_contain_text("fund from the PI's email")
        shots.take(page, "charge", down_to=history)
        check_accessible(auditor, charge_page)

        page.goto(queue)
        expect(queue_total(page)).to_contain_text("3 charges, $14.00 pending review")
        decide(page, "Approve", "checked with the PIs", "filter")
        expect(page.get_by_role("status").first).to_contain_text("2 charge(s) approved ($12.99) as rita")
        held = page.locator("table.data tbody tr")  # reported, not silently skipped
        expect(held).to_have_count(1)
        expect(held).to_contain_text("1 has no fund_org")

        page.goto(queue)
        expect(queue_rows(page)).to_have_count(1)
        queue_rows(page).get_by_role("checkbox").check()
        decide(page, "Correct PI / project / fund", "fund from the project's grant", "checked",
               **{"New fund (correct)": GOOD_FUND})
        page.goto(queue)
        expect(queue_rows(page)).to_have_count(0)
        expect(page.get_by_text(f"Nothing is waiting for review in {MONTH}.")).to_be_visible()

        page.goto(f"/months/{MONTH}")
        totals = page.locator("table#totals")
        figures = {name: money_of(totals.get_by_role("row", name=name.title()).locator("td").last.inner_text())
                   for name in ("imported", "approved", "pending", "rejected")}
        assert figures == {"imported": Decimal("318.84"), "approved": Decimal("298.84"), "pending": 0,
                           "rejected": Decimal("20.00")}
        assert figures["imported"] == figures["approved"] + figures["pending"] + figures["rejected"]
        expect(page.get_by_text("Reconciles: imported = approved + pending + rejected")).to_be_visible()
    finally:
        context.close()
    figures = month_summary(app_context(served.settings, actor="test"), MONTH).figures
    assert (figures.imported_rows, figures.approved_rows, figures.pending_rows, figures.rejected_rows) == (12, 10, 0, 2)
    assert figures.imported_billed == figures.approved_billed + figures.rejected_billed == Decimal("318.84")


def pdf_text(path: Path | str) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_an_admin_closes_the_month_and_takes_a_statement_and_the_journal(served: Served, auditor: Page):
    context = served.context("ada", accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"/months/{MONTH}")
        refused = page.request.post(f"/months/{MONTH}/close", form={"note": "no token"}, max_redirects=0)
        assert refused.status == 403 and "CSRF token missing or wrong" in refused.text()  # a POST without it
        page.reload()
        expect(page.locator("h1 .status")).to_have_text("open")
        shots.take(page, "month")
        check_accessible(auditor, f"/months/{MONTH}")
        page.get_by_label("Note (optional)").fill("January reviewed")
        page.get_by_role("button", name=f"Close {MONTH}").click(timeout=RUN_MS)
        expect(page.locator("h1 .status")).to_have_text("closed")

        page.goto(f"/months/{MONTH}/statements")
        page.get_by_role("button", name="Render statements").click(timeout=RUN_MS)
        statements = page.locator("table#statements tbody tr")
        expect(statements).to_have_count(3)  # ada's, grace's and the hostile tags' PI's (its fund corrected)
        shots.take(page, "statements")
        check_accessible(auditor, f"/months/{MONTH}/statements")
        ada = statements.filter(has_text="ada.lovelace@example.edu")
        with page.expect_download() as download_info:
            ada.get_by_role("link", name="PDF").click()
        download = download_info.value
        assert re.fullmatch(r"[\w.-]+\.pdf", download.suggested_filename), download.suggested_filename
        text = pdf_text(download.path())
        assert "ada.lovelace@example.edu" in text and "ASTR-100234" in text

        ada.get_by_role("link", name="Preview").click()
        frame = page.locator("iframe.preview")
        expect(frame).to_be_visible()
        opened = context.request.get(frame.get_attribute("src") or "")
        assert opened.ok and opened.headers["content-type"] == "application/pdf"
        assert opened.headers["content-disposition"].startswith("inline")
        assert opened.body() == Path(download.path()).read_bytes()  # the preview shows the file downloaded

        page.goto(f"/months/{MONTH}/journal")
        page.get_by_role("button", name=re.compile(r"^Export ")).first.click(timeout=RUN_MS)
        exports = page.locator("table#exports tbody tr")
        expect(exports).to_have_count(1)
        check_accessible(auditor, f"/months/{MONTH}/journal")
        with page.expect_download() as download_info:
            exports.first.get_by_role("link").first.click()
        journal = download_info.value
        assert re.fullmatch(r"[\w.-]+", journal.suggested_filename), journal.suggested_filename
        lines = list(csv.DictReader(io.StringIO(Path(journal.path()).read_text(encoding="utf-8"))))
        debits = sum(Decimal(line["Debit"] or 0) for line in lines)
        credits = sum(Decimal(line["Credit"] or 0) for line in lines)
        assert debits == credits == Decimal("298.84")  # balanced, and every approved cent
        assert any((line["Orgn"], line["Fund"]) == ("ASTR", "100234") for line in lines)  # the corrected fund
    finally:
        context.close()
    assert month_summary(app_context(served.settings, actor="test"), MONTH).status == "closed"


def test_the_other_pages_pass_axe(auditor: Page):
    """Imports, audit, settings and a PI's page (the other pages were checked where the month end visits them)."""
    for path in ("/imports", "/audit", "/settings", f"/months/{MONTH}/pi?email={ADA}"):
        check_accessible(auditor, path)
