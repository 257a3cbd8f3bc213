"""A real browser (Debian's Chromium through Playwright) against `dagster dev` on 127.0.0.1.

A temp project gets the sample files in its inbox; the month-end import runs in the project's own Dagster
instance, the sample review decisions are recorded and 2025-01 is closed. Then the UI must show the asset
graph by group, launch the statements of 2025-01 from the asset page (Materialize, partition, Launch) and
show their metadata. With $OCB_SCREENSHOTS_DIR set it also saves the docs' screenshots there
(docs/make_screenshots.sh), and a statement rendered with pdftoppm.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.sample_decisions import demo_decisions
from ocb_pipelines.services.dagster_runs import DAGSTER_YAML
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.smtp import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLES = ("hpc_2025-01.csv", "storage_2025-01.csv", "aws_2025-02.csv")
MONTH = "2025-01"
ASSETS = ("focus_raw", "charges_validated", "review_decisions", "charges_approved", "statements", "gl_journal")
GROUPS = ("ingest", "review", "statements", "ledger", "delivery")
# Processes started in the background may inherit ignored SIGINT/SIGTERM; restore them before exec so
# `dagster dev` can be stopped cleanly.
SIGNAL_RESET = ("import os, signal, sys\n[signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)]\n"
                "os.execvp(sys.argv[1], sys.argv[1:])")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")


def wait_for(condition, timeout: float, what: str, interval: float = 0.25):
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def prepare_project(tmp_path: Path, monkeypatch) -> OcbSettings:
    """Config, inbox with samples, a Dagster instance; 2025-01 imported through Dagster, decided and closed."""
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    settings = load_config(tmp_path / "config.yaml")
    settings.inbox_dir.mkdir(parents=True)
    for name in SAMPLES:
        shutil.copy(REPO / "data" / "samples" / name, settings.inbox_dir / name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("OCB_ACTOR", "ui.tester")
    defs = build_definitions(settings.config_path)
    with dg.DagsterInstance.get() as instance:
        for month in ("2025-01", "2025-02"):
            result = defs.resolve_job_def("month_end_import_job").execute_in_process(
                partition_key=month, instance=instance, tags=WAREHOUSE_RUN_TAGS)
            assert result.success, month
        with wh.connect(settings.warehouse_path) as con:
            decisions = demo_decisions(rd.charge_states(con, MONTH), settings.review.fund_org_patterns)
            rd.record_decisions(con, MONTH, decisions, actor="ui.tester", via="cli",
                                fund_org_patterns=settings.review.fund_org_patterns)
        result = defs.resolve_job_def("review_job").execute_in_process(
            partition_key=MONTH, instance=instance, tags=WAREHOUSE_RUN_TAGS)
        assert result.success
    with wh.connect(settings.warehouse_path) as con:
        lc.close_period(con, MONTH, "ui.tester", currency_symbol=settings.currency.symbol)
    return settings


def start_dagster_dev(settings: OcbSettings, port: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": os.environ["DAGSTER_HOME"], "OCB_CONFIG": str(settings.config_path),
           "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-c", SIGNAL_RESET, sys.executable, "-m", "dagster", "dev",
               "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
    log = log_path.open("wb")
    try:
        return subprocess.Popen(command, cwd=settings.config_path.parent, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def stop(process: subprocess.Popen) -> None:
    """SIGINT to the process group we started (dagster dev shuts its services down), SIGKILL if it hangs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # leftovers of our own group only
    process.wait(timeout=10)


def location_loaded(base: str, process: subprocess.Popen, log_path: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"dagster dev exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
    try:
        data = graphql(base, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                             "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
    except OSError:
        return False
    entries = data["workspaceOrError"]["locationEntries"]
    for entry in entries:
        if entry["locationOrLoadError"] and entry["locationOrLoadError"]["__typename"] == "PythonError":
            raise AssertionError(f"code location failed to load: {entry['locationOrLoadError']['message']}")
    return any(e["name"] == "ocb_pipelines" and e["loadStatus"] == "LOADED" and e["locationOrLoadError"]
               for e in entries)


def run_status(base: str, run_id: str) -> str:
    data = graphql(base, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}')
    return data["runOrError"].get("status", "")


class Shots:
    """Screenshots for docs/images when $OCB_SCREENSHOTS_DIR is set (docs/make_screenshots.sh)."""

    def __init__(self) -> None:
        folder = os.environ.get("OCB_SCREENSHOTS_DIR", "")
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str, **options) -> None:
        if self.folder:
            page.wait_for_load_state("load")
            page.screenshot(path=str(self.folder / name), **options)

    def statement(self, pdf_dir: Path) -> None:
        if not self.folder:
            return
        pdf = sorted(pdf_dir.rglob("*.pdf"), key=lambda p: (-p.stat().st_size, p.name))[0]
        subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(self.folder / "statement")], check=True, timeout=60)


def shown(locator):
    """The first visible match: the UI also renders each label into hidden elements that measure its width
    (MiddleTruncate), and which of them comes last depends on render timing."""
    return locator.filter(visible=True).first


def test_ui_shows_the_graph_materialises_a_month_and_shows_statement_metadata(tmp_path, monkeypatch):
    started = time.monotonic()
    settings = prepare_project(tmp_path, monkeypatch)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "dagster_dev.log"
    shots = Shots()
    server = start_dagster_dev(settings, port, log_path)
    try:
        wait_for(lambda: location_loaded(base, server, log_path), 120, "dagster dev to load the code location")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
                args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 800})
            try:
                # The UI's one-time "Join the Dagster community" dialog, dismissed as its Skip button would.
                browser.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
                page = browser.new_page()
                page.set_default_timeout(60_000)
                # The graph's layout runs in a web worker: on a busy 2-core machine it takes more than expect's 5 s.
                expect.set_options(timeout=60_000)

                # 1. The asset graph, by group.
                page.goto(f"{base}/asset-groups")
                for group in GROUPS:
                    expect(shown(page.get_by_text(group, exact=True))).to_be_visible()
                page.get_by_role("button", name="settings", exact=True).click()
                page.get_by_role("menuitem", name=re.compile("Expand all groups")).click()
                for asset in ASSETS:
                    expect(shown(page.get_by_text(asset, exact=True))).to_be_visible()
                expect(shown(page.get_by_text(re.compile(r"^statem.*deliveries$")))).to_be_visible()
                page.get_by_text("Global asset lineage", exact=True).click()  # closes the settings menu
                expect(page.get_by_role("menuitem")).to_have_count(0)
                shots.take(page, "asset-graph.png")

                # 2. Materialise the month's statements from the asset page: Materialize, partition, Launch.
                page.goto(f"{base}/assets/statements")
                expect(page.get_by_text("Never materialized")).to_be_visible()
                page.get_by_role("button", name="Materialize…").click()
                dialog = page.get_by_role("dialog")
                partitions = dialog.get_by_placeholder(re.compile(r"ex: \d{4}-\d{2}"))  # from the first month imported
                partitions.fill(MONTH)
                partitions.press("Enter")
                expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
                expect(dialog.get_by_text("Upstream data missing")).to_have_count(0)
                dialog.get_by_role("button", name="Launch 1 run").click()
                view = page.locator("a[href*='/runs/']", has_text="View").first
                expect(view).to_be_visible()
                run_id = view.get_attribute("href").rstrip("/").split("/")[-1]
                status = wait_for(lambda: (s := run_status(base, run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s,
                                  120, f"run {run_id} to finish")
                assert status == "SUCCESS", log_path.read_text()[-3000:]
                page.goto(f"{base}/runs/{run_id}")
                expect(page.get_by_text("Success", exact=True).first).to_be_visible()
                expect(page.get_by_text(f"partition: {MONTH}")).to_be_visible()
                expect(page.get_by_text("RUN_SUCCESS", exact=True).first).to_be_visible()
                shots.take(page, "run.png")

                # 3. The statements asset shows its metadata (money as exact text and as integer cents).
                page.goto(f"{base}/assets/statements")
                for key in ("billed_total", "billed_total_cents", "list_total_cents", "discount_total_cents",
                            "rendered", "statement_lineage", "statement_lineage_shown"):
                    expect(page.get_by_text(key, exact=True).first).to_be_visible()
                expect(page.get_by_text(re.compile(r"^\$[0-9,]+\.[0-9]{2} USD$")).first).to_be_visible()
                shots.take(page, "statements-metadata.png")
                page.goto(f"{base}/assets/statements?view=lineage")
                page.get_by_role("button", name=re.compile("Upstream$")).click()
                page.get_by_role("button", name="All", exact=True).click()
                for asset in ("focus_raw", "charges_validated", "charges_approved"):  # back to the files
                    expect(page.get_by_text(asset, exact=True).last).to_be_attached()
                expect(page.get_by_text("Loading…")).to_have_count(0)
                for _ in range(3):
                    page.get_by_role("button", name="zoom_out", exact=True).click()
                expect(shown(page.get_by_text("focus_raw", exact=True))).to_be_visible()
                shots.take(page, "statements-lineage.png")

                # 4. Numeric metadata plotted over the months (the catalog as a dashboard).
                page.goto(f"{base}/assets/charges_validated")
                page.get_by_role("button", name=re.compile(r"Plots$")).click()
                for key in ("billed_total_cents", "list_total_cents", "discount_total_cents", "flagged_billed_cents"):
                    expect(page.get_by_text(key, exact=True).first).to_be_attached()
                expect(page.locator("canvas").first).to_be_visible()
                page.get_by_text("Metadata", exact=True).first.scroll_into_view_if_needed()
                shots.take(page, "asset-plots.png")
            finally:
                browser.close()
    finally:
        stop(server)

    # The UI's run is in the instance and wrote the warehouse and the PDFs.
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("statements"))
        assert event.run_id == run_id and event.asset_materialization.partition == MONTH
        assert instance.get_run_by_id(run_id).tags.get("dagster/partition") == MONTH
        # Launched from the asset page: tagged when it started, and audited as the UI, not the OS user.
        assert {k: v for k, v in instance.get_run_by_id(run_id).tags.items() if k.startswith("ocb/") and
                k not in ("ocb/pid", "ocb/pid_start", "ocb/host")} == {
            "ocb/warehouse": "write", "ocb/trigger": "ui", "ocb/actor": "dagster-ui"}
    with wh.connect(settings.warehouse_path) as con:
        count = con.execute("SELECT count(*) FROM statements WHERE billing_month = ?", [MONTH]).fetchall()[0][0]
        actors = con.execute("SELECT DISTINCT actor FROM audit_events WHERE run_id = ?", [run_id]).fetchall()
    assert actors == [("dagster-ui",)]
    assert count > 0 and len(list(settings.output.pdf_dir.rglob("*.pdf"))) == count
    shots.statement(settings.output.pdf_dir)
    assert time.monotonic() - started < 180
