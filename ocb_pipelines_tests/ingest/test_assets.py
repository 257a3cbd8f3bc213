"""Real Dagster materialisations of focus_raw + charges_validated on a temp instance and DuckDB file."""

import dagster as dg

from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _run(workdir, month, files=None, instance=None):
    defs = build_definitions(workdir / "config.yaml")
    job = defs.resolve_job_def("ingest_job")
    config = {"ops": {"focus_raw": {"config": {"files": [str(f) for f in files or []]}}}}
    return job.execute_in_process(partition_key=month, run_config=config, instance=instance, raise_on_error=False)


def test_materialize_month_from_inbox_with_metadata(workdir):
    inbox = workdir / "data" / "inbox"
    write_focus(inbox / "aws_2025-01.csv", [focus_row(billed="10"), focus_row(billed="5", tags="{}")])
    write_focus(inbox / "azure_2025-01.csv", [focus_row(billed="2.5")], version="1.0")
    write_focus(inbox / "hpc_2025-02.csv", [focus_row("2025-02")])
    with dg.instance_for_test() as instance:
        result = _run(workdir, "2025-01", instance=instance)
        assert result.success
        mats = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
        raw, validated = mats["focus_raw"], mats["charges_validated"]
        assert raw["dagster/row_count"].value == 3 and raw["files"].value == 2
        assert raw["billed_total"].value == "$17.50 USD" and raw["billed_total_cents"].value == 1750
        assert raw["rows_by_source"].value == {"aws": 2, "azure": 1}
        assert validated["flagged_rows"].value == 1 and validated["flagged_billed_cents"].value == 500
        assert "missing_pi_email" in validated["flagged_by_reason"].value
        assert "aws_2025-01.csv" in validated["largest_flagged"].value
        checks = {c.asset_check_key.name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks == {"focus_files_pass_gate": True, "charges_validated_complete": True}
        assert instance.get_latest_materialization_event(dg.AssetKey("focus_raw")) is not None
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        assert con.execute("SELECT DISTINCT billing_month FROM focus_raw").fetchall() == [("2025-01",)]


def test_refused_file_fails_the_check_and_keeps_the_good_file(workdir):
    good = write_focus(workdir / "aws_2025-01.csv", [focus_row()])
    bad = write_focus(workdir / "azure_2025-01.csv", [focus_row(billed="$12")])
    with dg.instance_for_test() as instance:
        result = _run(workdir, "2025-01", files=[good, bad], instance=instance)
    [check] = [c for c in result.get_asset_check_evaluations() if c.asset_check_key.name == "focus_files_pass_gate"]
    assert not check.passed and "value '$12'" in check.metadata["errors"].value
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        assert con.execute("SELECT DISTINCT source FROM charges_validated").fetchall() == [("aws",)]
        refused = con.execute("SELECT subject, actor FROM audit_events WHERE action = 'import_refused'").fetchall()
    assert refused[0][0] == "azure_2025-01.csv" and refused[0][1]


def test_missing_config_fails_the_run_with_a_clear_message(tmp_path):
    defs = build_definitions(tmp_path / "absent.yaml")
    result = defs.resolve_job_def("ingest_job").execute_in_process(partition_key="2025-01", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "configuration file not found" in failure.step_failure_data.error.message + str(
        failure.step_failure_data.user_failure_data.description if failure.step_failure_data.user_failure_data else "")
