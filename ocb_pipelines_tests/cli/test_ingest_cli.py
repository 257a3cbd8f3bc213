"""`ocb ingest`: summary, --json, exit codes, dry run, runs recorded in the Dagster instance."""

import json

import dagster as dg
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _invoke(workdir, *args, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dh"))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    return CliRunner().invoke(cli, [*args, "-c", str(workdir / "config.yaml")], catch_exceptions=False)


def test_ingest_json_summary_and_runs_in_instance(workdir, monkeypatch):
    aws = write_focus(workdir / "aws_2025-01.csv", [focus_row(billed="10"), focus_row("2025-02", billed="1")])
    hpc = write_focus(workdir / "cluster.csv", [focus_row(billed="4", tags="{}")])
    result = _invoke(workdir, "ingest", str(aws), str(hpc), "-s", "hpc", "-p", "2025-01", "--json",
                     monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["periods"] == ["2025-01", "2025-02"]
    assert (summary["rows"], summary["billed_total"], summary["flagged_rows"]) == (3, "15.000000000000", 2)
    assert {f["file"]: f["source"] for f in summary["files"]} == {"aws_2025-01.csv": "hpc", "cluster.csv": "hpc"}
    assert len(summary["runs"]) == 2 and all(r["success"] for r in summary["runs"])
    with dg.DagsterInstance.from_config(str(workdir / "dh")) as instance:
        runs = instance.get_runs()
        assert {r.tags["dagster/partition"] for r in runs} == {"2025-01", "2025-02"}
        assert all(r.job_name == "ingest_job" and r.tags["ocb/actor"] == "tester" for r in runs)
    again = json.loads(_invoke(workdir, "ingest", str(aws), "-s", "hpc", "--json", monkeypatch=monkeypatch).stdout)
    assert again["files"][0]["status"] == ["unchanged"]


def test_ingest_exit_code_nonzero_when_a_file_is_refused(workdir, monkeypatch):
    good = write_focus(workdir / "aws_2025-01.csv", [focus_row()])
    bad = workdir / "azure_2025-01.csv"
    bad.write_text("identity/LineItemId,lineItem/UsageAccountId,lineItem/UnblendedCost\n1,2,3\n")
    result = _invoke(workdir, "ingest", str(good), str(bad), monkeypatch=monkeypatch)
    assert result.exit_code == 1
    assert "REFUSED  azure_2025-01.csv" in result.output and "AWS Cost and Usage Report" in result.output
    assert "imported  aws_2025-01.csv" in result.output


def test_dry_run_writes_nothing(workdir, monkeypatch):
    (workdir / "data" / "warehouse.duckdb").unlink()  # a fresh machine: a dry run creates no warehouse either
    path = write_focus(workdir / "aws_2025-01.csv", [focus_row(billed="2"), focus_row(billed="3", tags="{}")])
    result = _invoke(workdir, "ingest", str(path), "--dry-run", "--json", monkeypatch=monkeypatch)
    summary = json.loads(result.stdout)
    assert summary["dry_run"] and summary["rows"] == 2 and summary["flagged_billed"] == "3.000000000000"
    assert not (workdir / "data" / "warehouse.duckdb").exists()


def test_gate_refusal_in_run_is_reported_per_file(workdir, monkeypatch):
    path = write_focus(workdir / "aws_2025-01.csv", [focus_row(), focus_row(BillingCurrency="dollars")])
    result = _invoke(workdir, "ingest", str(path), "--json", monkeypatch=monkeypatch)
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert not summary["ok"]
    assert any("row 2 (line 3), column BillingCurrency, value 'dollars'" in e for e in summary["errors"])
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        assert con.execute("SELECT count(*) FROM focus_raw").fetchall() == [(0,)]


def test_bad_config_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["ingest", "x.csv", "-c", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1 and "configuration file not found" in result.output
