"""Runs launched from the Dagster UI carry the warehouse, trigger and actor tags, and are audited as the UI's user.

Acceptance through the Dagster instance and GraphQL, as the webserver does it: the repository's workspace.yaml is
loaded into a code server process, runs are launched with the webserver's GraphQL mutations and the tags the UI
sends (`dagster/partition`, and `dagster/from_ui` on every launch: asset page, Launchpad, re-execution), and each
runs in its own run worker process (the instance's DefaultRunLauncher). DefaultRunCoordinator launches them at
once, as there is no daemon here. The audit trail must name `dagster/user` (an authenticating proxy, Dagster+) or
`dagster-ui`: never the OS user the run worker runs as, never a name typed into the launch dialog.
"""

from __future__ import annotations

import getpass
import shutil

import dagster as dg
import pytest
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION, LAUNCH_PIPELINE_REEXECUTION_MUTATION
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql, infer_job_selector

from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import load_config
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.ingest.billing_months import calendar_end
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.services.dagster_runs import DAGSTER_YAML, PID_TAG
from ocb_pipelines.services.run_tags import UI_ACTOR, resolve_run_tags
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.statements.conftest import MONTH as STATEMENT_MONTH
from ocb_pipelines_tests.statements.conftest import load_month, make_settings, month_rows
from ocb_pipelines_tests.ui.test_browser import REPO, wait_for

MONTHS = ("2025-01", "2025-02", "2025-03", "2025-04")  # 2025-01 is imported by `ocb` before the UI starts
DEFAULT_COORDINATOR = "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
PARTITIONS_QUERY = """{ assetNodeOrError(assetKey: {path: ["focus_raw"]}) { ... on AssetNode { partitionKeys } } }"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """(GraphQL request context, instance, settings) of a project whose first month went in through `ocb`."""
    root = tmp_path_factory.mktemp("ui_runs")
    shutil.copy(REPO / "config.example.yaml", root / "config.yaml")
    settings = load_config(root / "config.yaml")
    for month in MONTHS:
        write_focus_csv(settings.inbox_dir / f"aws_{month}.csv",
                        [charge_row(month, resource=f"vm-{month}"), charge_row(month, resource="disk", billed="2.50")])
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML + DEFAULT_COORDINATOR, encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        env.setenv("OCB_CONFIG", str(settings.config_path))  # the code location loads the definitions bound to it
        env.setenv("OCB_ACTOR", "cli.user")
        cli = app_context(settings).job("ingest_job", MONTHS[0], run_config={"ops": {"focus_raw": {"config": {
            "files": [str(settings.inbox_dir / f"aws_{MONTHS[0]}.csv")]}}}})
        assert cli.success, cli.error
        with dg.DagsterInstance.get() as instance, \
                define_out_of_process_context(str(REPO / "workspace.yaml"), None, instance) as context:
            yield context, instance, settings


def launch(context, assets: list[str], month: str, tags: dict[str, str], job: str = IMPLICIT_ASSET_JOB_NAME,
           run_config: dict | None = None) -> dict:
    """launchPipelineExecution as the UI sends it: the asset page (the implicit asset job) or a Launchpad job."""
    selector = infer_job_selector(context, job, asset_selection=[{"path": [a]} for a in assets] or None)
    result = execute_dagster_graphql(context, LAUNCH_PIPELINE_EXECUTION_MUTATION, variables={"executionParams": {
        "selector": selector, "mode": "default", "runConfigData": run_config or {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in {"dagster/partition": month,
                                                                            **tags}.items()]},
    }})
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]


def finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    run = wait_for(lambda: (r := instance.get_run_by_id(run_id)) and r.is_finished and r, 300, f"run {run_id}")
    assert run.status == dg.DagsterRunStatus.SUCCESS, instance.all_logs(run_id)[-5:]
    return run


def audit_actors(settings, run_id: str) -> set[str]:
    with wh.connect(settings.warehouse_path) as con:
        return {a for (a,) in con.execute("SELECT DISTINCT actor FROM audit_events WHERE run_id = ?", [run_id])
                .fetchall()}


def ocb_tags(run: dg.DagsterRun) -> dict[str, str]:
    return {k: v for k, v in run.tags.items() if k in ("ocb/warehouse", "ocb/trigger", "ocb/actor")}


def test_a_run_from_the_asset_page_is_tagged_when_it_starts_and_audited_as_dagster_ui(ui):
    context, instance, settings = ui
    created = launch(context, ["focus_raw", "charges_validated"], MONTHS[1], {"dagster/from_ui": "true"})
    assert not [t for t in created["tags"] if t["key"].startswith("ocb/")]  # Dagster's asset job carries none
    run = finished(instance, created["runId"])
    assert ocb_tags(run) == {"ocb/warehouse": "write", "ocb/trigger": "ui", "ocb/actor": UI_ACTOR}
    actors = audit_actors(settings, run.run_id)
    assert actors == {UI_ACTOR}  # the import and the month it opened
    assert getpass.getuser() not in actors


def test_the_user_a_proxy_names_is_the_actor_and_typed_ocb_tags_do_not_impersonate(ui):
    context, instance, settings = ui
    created = launch(context, [], MONTHS[2], {"dagster/from_ui": "true", "dagster/user": "grace@example.edu",
                                              "ocb/trigger": "cli", "ocb/actor": "someone.else"}, job="ingest_job")
    # A Launchpad job's own tags are on the run from its creation: the run queue sees the warehouse tag.
    assert {"key": "ocb/warehouse", "value": "write"} in created["tags"]
    run = finished(instance, created["runId"])
    assert ocb_tags(run) == {"ocb/warehouse": "write", "ocb/trigger": "ui", "ocb/actor": "grace@example.edu"}
    assert audit_actors(settings, run.run_id) == {"grace@example.edu"}


def test_a_ui_re_execution_of_a_sensor_run_is_the_uis_and_names_its_own_process(ui):
    context, instance, settings = ui
    sensor_tags = {"ocb/warehouse": "write", "ocb/trigger": "sensor", "ocb/actor": "inbox_sensor",
                   "dagster/sensor_name": "focus_inbox_sensor"}
    parent = finished(instance, launch(context, ["focus_raw"], MONTHS[3], sensor_tags)["runId"])
    assert ocb_tags(parent) == {k: v for k, v in sensor_tags.items() if k.startswith("ocb/")}
    assert audit_actors(settings, parent.run_id) == {"inbox_sensor"}
    result = execute_dagster_graphql(context, LAUNCH_PIPELINE_REEXECUTION_MUTATION, variables={"reexecutionParams": {
        "parentRunId": parent.run_id, "strategy": "ALL_STEPS",
        "extraTags": [{"key": "dagster/from_ui", "value": "true"}]}})  # what the UI's Re-execute button sends
    relaunched = result.data["launchPipelineReexecution"]
    assert relaunched["__typename"] == "LaunchRunSuccess", relaunched
    child = finished(instance, relaunched["run"]["runId"])
    assert ocb_tags(child) == {"ocb/warehouse": "write", "ocb/trigger": "ui", "ocb/actor": UI_ACTOR}
    # It copied the parent's process tags; its own run worker replaced them (the parent's process is gone, and
    # the stale_runs_sensor would otherwise fail this run while it ran).
    assert child.tags[PID_TAG] != parent.tags[PID_TAG]
    assert audit_actors(settings, child.run_id) <= {UI_ACTOR}


def test_the_ui_shows_partitions_from_the_first_billing_month_to_the_running_one(ui):
    context, _instance, _settings = ui
    keys = execute_dagster_graphql(context, PARTITIONS_QUERY).data["assetNodeOrError"]["partitionKeys"]
    assert keys[0] == MONTHS[0] and keys[-1] == calendar_end()  # not 2020-01: the earliest month imported
    assert "2024-12" not in keys and len(keys) == len(set(keys))


@pytest.mark.parametrize(("tags", "expected"), [
    ({}, ("ui", UI_ACTOR)),  # Dagster's own launch (asset page, GraphQL API)
    ({"dagster/user": " ada@example.edu "}, ("ui", "ada@example.edu")),
    ({"ocb/trigger": "cli", "ocb/actor": "alice"}, ("cli", "alice")),
    ({"ocb/trigger": "cli", "ocb/actor": "alice", "dagster/from_ui": "true"}, ("ui", UI_ACTOR)),  # re-executed
    ({"ocb/trigger": "ui", "ocb/actor": "typed-in"}, ("ui", UI_ACTOR)),
    ({"dagster/sensor_name": "default_automation_condition_sensor"},  # declarative automation
     ("sensor", "default_automation_condition_sensor")),
    ({"dagster/schedule_name": "month_end_schedule"}, ("schedule", "month_end_schedule")),
    ({"ocb/trigger": "sensor", "dagster/sensor_name": "review_sheet_sensor"}, ("sensor", "review_sheet_sensor")),
])
def test_every_run_resolves_to_a_warehouse_tag_a_trigger_and_an_actor_never_the_os_user(tags, expected):
    resolved = resolve_run_tags(tags)
    assert (resolved["ocb/trigger"], resolved["ocb/actor"]) == expected
    assert resolved["ocb/warehouse"] == "write" and resolved["ocb/actor"] != getpass.getuser()


def test_runs_ocb_starts_keep_their_own_tags(ui):
    _context, instance, _settings = ui
    [cli] = instance.get_runs(filters=dg.RunsFilter(tags={"ocb/trigger": "cli"}))
    assert ocb_tags(cli) == {"ocb/warehouse": "write", "ocb/trigger": "cli", "ocb/actor": "cli.user"}
    assert cli.tags["dagster/partition"] == MONTHS[0]


def test_a_journal_export_launched_from_the_ui_is_audited_as_the_ui_not_the_os_user(tmp_path, monkeypatch):
    """The issue's case: `journal_job` from the Launchpad was audited as `root`."""
    settings = make_settings(tmp_path, monkeypatch)
    monkeypatch.delenv("OCB_ACTOR")  # as the webserver's run worker: only the OS user to fall back on
    load_month(settings, month_rows())
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        result = build_definitions(settings.config_path).resolve_job_def("journal_job").execute_in_process(
            partition_key=STATEMENT_MONTH, instance=instance, tags={"dagster/from_ui": "true"})
        assert result.success
        assert ocb_tags(instance.get_run_by_id(result.run_id)) == {
            "ocb/warehouse": "write", "ocb/trigger": "ui", "ocb/actor": UI_ACTOR}
    assert audit_actors(settings, result.run_id) == {UI_ACTOR}
