"""The Dagster layer: review_job from the Launchpad (run config), from a sheet, and the definitions."""

from __future__ import annotations

import dagster as dg

from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.review.fixtures import write_focus_csv
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, ids_by_resource, standard_rows
from .test_sheets import _export, _fill


def _materialise_month(settings, defs, instance):
    write_focus_csv(settings.inbox_dir / "aws_2025-01.csv", standard_rows())
    result = defs.resolve_job_def("ingest_job").execute_in_process(partition_key=MONTH, instance=instance)
    assert result.success


def _metadata(result, key):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return event.materialization.metadata


def test_review_job_records_ui_decisions_and_builds_approved(settings):
    defs = build_definitions(settings.config_path)
    dg.Definitions.validate_loadable(defs)
    with dg.instance_for_test() as instance:
        _materialise_month(settings, defs, instance)
        ids = ids_by_resource(settings)
        config = {"ops": {"review_decisions": {"config": {"decisions": [
            {"charge_id": ids["test"], "decision": "approve", "note": "ok in UI"},
            {"charge_id": ids["noproj"], "decision": "correct", "note": "from ticket", "project_id": "proj-z"},
        ]}}}}
        # Launched from the UI behind a proxy that names its user: the decisions are that user's.
        result = defs.resolve_job_def("review_job").execute_in_process(
            partition_key=MONTH, instance=instance, run_config=config,
            tags={"dagster/from_ui": "true", "dagster/user": "eve.admin@example.edu"})
    assert result.success
    queue = _metadata(result, "review_decisions")
    assert queue["decisions_this_run"].value == 2
    approved = _metadata(result, "charges_approved")
    assert approved["dagster/row_count"].value == 3
    assert approved["pending_rows"].value == 1 and approved["pending_billed_cents"].value == 700
    assert approved["approved_billed"].value == "$17.75 USD"
    assert "missing_fund_org" in approved["pending_by_reason"].value
    assert {c.asset_check_key.name: c.passed for c in result.get_asset_check_evaluations()} == {
        "decisions_name_known_charges": True, "charges_approved_gate": True, "charges_reconciled": True}
    with wh.connect(settings.warehouse_path) as con:
        actors = con.execute("SELECT DISTINCT actor FROM audit_events WHERE action LIKE 'review_%'").fetchall()
    assert actors == [("eve.admin@example.edu",)]


def test_launchpad_decisions_without_a_named_user_are_dagster_uis_not_the_os_users(settings):
    defs = build_definitions(settings.config_path)
    with dg.instance_for_test() as instance:
        _materialise_month(settings, defs, instance)
        ids = ids_by_resource(settings)
        config = {"ops": {"review_decisions": {"config": {"decisions": [
            {"charge_id": ids["test"], "decision": "approve", "note": "x"}]}}}}
        result = defs.resolve_job_def("review_job").execute_in_process(
            partition_key=MONTH, instance=instance, run_config=config, tags={"dagster/from_ui": "true"})
    assert result.success
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT actor, via FROM review_decisions").fetchall() == [("dagster-ui", "ui")]


def test_review_job_applies_a_sheet_and_refuses_a_bad_one(settings):
    defs = build_definitions(settings.config_path)
    with dg.instance_for_test() as instance:
        _materialise_month(settings, defs, instance)
        export = _export(settings)
        good = _fill(export, settings.review_dir / "good.csv", edits={"test": {"decision": "approve", "note": "ok"}})
        bad = _fill(export, settings.review_dir / "bad.csv", edits={"test": {"decision": "perhaps", "note": "ok"}})
        job = defs.resolve_job_def("review_job")
        ok = job.execute_in_process(partition_key=MONTH, instance=instance, run_config={
            "ops": {"review_decisions": {"config": {"sheets": [str(good)]}}}})
        refused = job.execute_in_process(partition_key=MONTH, instance=instance, raise_on_error=False, run_config={
            "ops": {"review_decisions": {"config": {"sheets": [str(bad)]}}}})
    assert ok.success and _metadata(ok, "charges_approved")["dagster/row_count"].value == 2
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "bad.csv line" in failure.step_failure_data.error.message
    assert "charges_approved" not in {e.asset_key.to_user_string() for e in refused.get_asset_materialization_events()}
