"""A real browser (Debian's Chromium through Playwright) against `dagster dev` on 127.0.0.1.

A temp project gets the sample files in its inbox; the month-end import runs in the project's own Dagster
instance, the sample review decisions are recorded and 2025-01 is closed; then `ocb ingest` of a file with a bad
amount starts an import run that fails. Then the UI must show the asset graph by group, launch the statements
of 2025-01 from the asset page (Materialize, partition, Launch) and show their metadata, the table of each
statement's lines by file, sha256 and row, a check's results each with its month in the Partition column, and
the refused import as a failed run whose message names the file, row, column and value. With
$OCB_SCREENSHOTS_DIR set it also saves the docs' screenshots there (docs/make_screenshots.sh), and a statement
rendered with pdftoppm.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from click.testing import CliRunner
from playwright.sync_api import Locator, Page, expect, sync_playwright

from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.core.money import format_money
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.sample_decisions import demo_decisions
from ocb_pipelines.services.dagster_runs import DAGSTER_YAML
from ocb_pipelines.services.run_tags import run_tags
from ocb_pipelines.statements.lineage import row_ranges
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus
from ocb_pipelines_tests.smtp import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLES = ("hpc_2025-01.csv", "storage_2025-01.csv", "aws_2025-02.csv")
MONTH = "2025-01"
ASSETS = ("focus_raw", "charges_validated", "review_decisions", "charges_approved", "statements", "gl_journal")
GROUPS = ("ingest", "review", "statements", "ledger", "delivery")
CLI_TAGS = run_tags("cli", "ui.tester")  # the month end as `ocb` runs it
REFUSED_MONTH = "2025-03"
REFUSED_FILE = f"aws_{REFUSED_MONTH}.csv"
REFUSAL = f"{REFUSED_FILE}: row 1 (line 2), column BilledCost, value '$12'"  # file, row, column and value
CHECK = dg.AssetCheckKey(dg.AssetKey("charges_approved"), "charges_reconciled")
WIDE = {"width": 1760, "height": 900}  # the check history and the lineage table, every column in view
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
                partition_key=month, instance=instance, tags=CLI_TAGS)
            assert result.success, month
        with wh.connect(settings.warehouse_path) as con:
            decisions = demo_decisions(rd.charge_states(con, MONTH), settings.review.fund_org_patterns)
            rd.record_decisions(con, MONTH, decisions, actor="ui.tester", via="cli",
                                fund_org_patterns=settings.review.fund_org_patterns)
        result = defs.resolve_job_def("review_job").execute_in_process(
            partition_key=MONTH, instance=instance, tags=CLI_TAGS)
        assert result.success
    with wh.connect(settings.warehouse_path) as con:
        lc.close_period(con, MONTH, "ui.tester", currency_symbol=settings.currency.symbol)
    return settings


def refused_import(settings: OcbSettings) -> str:
    """A file with a bad amount for a month not imported yet, dropped in the inbox and imported with `ocb ingest`:
    the run it starts fails (and opens no month). Returns that run's id."""
    path = write_focus(settings.inbox_dir / REFUSED_FILE, [focus_row(REFUSED_MONTH, billed="$12")])
    result = CliRunner().invoke(cli, ["ingest", str(path), "--json", "-c", str(settings.config_path)])
    assert result.exit_code == 1, result.output
    [run] = json.loads(result.stdout)["runs"]
    assert run["period"] == REFUSED_MONTH and not run["success"]
    return run["run_id"]


def check_history(check: dg.AssetCheckKey) -> list[tuple[str, str]]:
    """(run id, the run's month) of each evaluation of the check, newest first: what its history must show."""
    with dg.DagsterInstance.get() as instance:
        records = instance.event_log_storage.get_asset_check_execution_history(check, limit=50)
        return [(r.run_id, instance.get_run_by_id(r.run_id).tags["dagster/partition"]) for r in records]


def lineage_row(settings: OcbSettings, month: str) -> list[str]:
    """The statement_lineage row of the month's first statement and file (by PI, project, file), derived without
    the code under test: the approved charges' rows, and the sha256 of the sample file itself."""
    with wh.connect(settings.warehouse_path) as con:
        pi, project, source, file_name, rows, billed = con.execute(
            "SELECT pi_email, project_id, source, file_name, list(file_row_number ORDER BY file_row_number), "
            "sum(billed_cost) FROM charges_approved WHERE billing_month = ? GROUP BY ALL "
            "ORDER BY pi_email, project_id, file_name LIMIT 1", [month]).fetchall()[0]
    sha256 = hashlib.sha256((REPO / "data" / "samples" / file_name).read_bytes()).hexdigest()
    return [pi, project, source, file_name, sha256[:12], row_ranges(rows), str(len(rows)),
            format_money(billed, settings.currency.symbol)]


def table_with_header(page: Page, header: str) -> Locator:
    """The rendered HTML table that has a column named `header`."""
    return page.locator(f"xpath=//table[thead/tr/th[normalize-space()='{header}']]")


def table_rows(table: Locator) -> list[dict[str, str]]:
    """A table's body rows as {column: cell text}, plus `run`: the run id its first link to a run names."""
    return table.evaluate("""table => {
        const columns = Array.from(table.tHead.rows[0].cells, cell => cell.innerText.trim());
        return Array.from(table.tBodies[0].rows, row => {
            const cells = Object.fromEntries(Array.from(row.cells, (cell, i) => [columns[i], cell.innerText.trim()]));
            const link = row.querySelector("a[href^='/runs/']");
            return {...cells, run: link ? link.pathname.split("/").pop() : ""};
        });
    }""")


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
    settings = prepare_project(tmp_path, monkeypatch)
    failed_run = refused_import(settings)
    history = check_history(CHECK)
    assert {month for _, month in history} == {"2025-01", "2025-02"}
    first_line = lineage_row(settings, MONTH)
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
                for asset in ("charges_priced", "charges_validated", "charges_approved"):  # back to the files
                    expect(page.get_by_text(asset, exact=True).last).to_be_attached()
                expect(page.get_by_text("Loading…")).to_have_count(0)
                for _ in range(4):  # the graph draws what is in view: focus_raw, four steps up, once zoomed out
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

                # 5. A statement's lines by file, sha256 and row: the statement_lineage table of the month's
                # materialisation (its events page, where the table has room for every column).
                page.set_viewport_size(WIDE)
                page.goto(f"{base}/assets/statements?view=events&partition={MONTH}")
                page.get_by_text("Hide navigation", exact=True).click()  # room for the tables (kept from now on)
                lineage = table_with_header(page, "sha256")
                expect(lineage.locator("xpath=./thead/tr/th")).to_have_text(
                    ["PI", "project", "source", "file", "sha256", "rows", "lines", "billed"])
                line = lineage.locator("xpath=./tbody/tr").filter(has_text=first_line[1]).filter(
                    has_text=first_line[3])
                expect(line.locator("xpath=./td")).to_have_text(first_line)
                page.get_by_text("statement_lineage", exact=True).first.evaluate(
                    "key => key.scrollIntoView({block: 'start'})")
                shots.take(page, "statement-lines.png")

                # 6. A check's results, each with its month in the Partition column: the month of the run that
                # evaluated it, as the instance records it.
                page.goto(f"{base}/assets/{CHECK.asset_key.to_user_string()}?view=checks&checkDetail={CHECK.name}")
                page.get_by_text("Execution history", exact=True).click()
                results = table_with_header(page, "Partition")
                expect(results.locator("xpath=./tbody/tr")).to_have_count(len(history))
                shown_results = table_rows(results)
                assert [(r["run"], r["Partition"]) for r in shown_results] == history, shown_results
                for result in shown_results:  # passed, and its description is about its own month
                    assert result["Evaluation result"] == "Passed", result
                    assert result["Description"].startswith(f"{result['Partition']}: imported "), result
                shots.take(page, "check-partitions.png")
                page.set_viewport_size({"width": 1280, "height": 800})

                # 7. The refused import is a failed run: red in the runs list, and its failure names the file, the
                # row, the column and the value.
                page.goto(f"{base}/runs")
                listed = page.locator("[data-index]").filter(has=page.locator(f"a[href='/runs/{failed_run}']"))
                expect(listed.get_by_text("Failure", exact=True)).to_be_visible()
                expect(listed.get_by_text("ingest_job", exact=True)).to_be_visible()
                expect(listed.get_by_text(f"partition: {REFUSED_MONTH}")).to_be_visible()
                page.goto(f"{base}/runs/{failed_run}")
                expect(page.get_by_text("Failure", exact=True).first).to_be_visible()
                run_failure = page.locator("div").filter(has=page.get_by_text("RUN_FAILURE", exact=True)).filter(
                    has_text=REFUSAL).last
                expect(run_failure).to_be_visible()
                expect(run_failure).to_contain_text(f"No file of this run went in: {REFUSED_MONTH} is unchanged")
                shots.take(page, "failed-import.png")
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
        # The refused import: a failed run of `ocb ingest` that opened no month.
        refused = instance.get_run_by_id(failed_run)
        assert refused.status == dg.DagsterRunStatus.FAILURE and refused.tags["ocb/trigger"] == "cli"
        assert REFUSED_MONTH not in instance.get_materialized_partitions(dg.AssetKey("focus_raw"))
    with wh.connect(settings.warehouse_path) as con:
        count = con.execute("SELECT count(*) FROM statements WHERE billing_month = ?", [MONTH]).fetchall()[0][0]
        actors = con.execute("SELECT DISTINCT actor FROM audit_events WHERE run_id = ?", [run_id]).fetchall()
    assert actors == [("dagster-ui",)]
    assert count > 0 and len(list(settings.output.pdf_dir.rglob("*.pdf"))) == count
    shots.statement(settings.output.pdf_dir)
