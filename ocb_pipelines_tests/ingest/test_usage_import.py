"""Slurm sacct output and storage usage reports as import sources (issue 19): told by their header, read inside
DuckDB into usage_rows per billing month (the month of a job's UTC end), whole or not at all, through the real
`ocb ingest`, its dry run, the inbox sensor and the import service."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.config import load_config
from ocb_pipelines.defs.ingest.sensors import focus_inbox_sensor
from ocb_pipelines.defs.resources import build_resources
from ocb_pipelines.ingest import usage
from ocb_pipelines.ingest.importer import ImportRefused, import_file, inspect_file
from ocb_pipelines.ingest.legacy_layout import SourceDefaults
from ocb_pipelines.ingest.service import import_month, inbox_files
from ocb_pipelines.services.import_catalog import import_history
from ocb_pipelines.services.month_summary import month_summaries
from ocb_pipelines.warehouse import database as wh

HEADER = "JobID|JobName|User|Account|Partition|Cluster|Start|End|ElapsedRaw|AllocTRES|State"
TRES = "billing=16,cpu=8,gres/gpu:a100=2,gres/gpu=2,mem=64G,node=1"
# hpc's clock is New York's (UTC-4 in March and April 2026, UTC-5 before 8 March).
HPC_LINES = [
    f"100|train|ada|physics|gpu|hpc|2026-03-31T20:00:00|2026-04-01T01:30:00|19800|{TRES}|COMPLETED",
    "100.batch|batch|ada|physics|||2026-03-31T20:00:00|2026-04-01T01:30:00|19800|cpu=8,mem=64G|COMPLETED",
    "100.0|python|ada|physics|||2026-03-31T20:00:01|2026-04-01T01:29:00|19739|cpu=8,mem=64G|COMPLETED",
    # Ends at 21:30 on 31 March in New York: 01:30 UTC on 1 April, so it is April's. No ElapsedRaw: End - Start.
    "101|sim|grace|chem|cpu|hpc|2026-03-31T19:00:00|2026-03-31T21:30:00||cpu=4,mem=500M|COMPLETED",
    # Across the change to summer time (8 March, 02:00 -> 03:00): 01:00 to 04:00 on the clock is 2 hours.
    "102|dst|grace|chem|cpu|hpc|2026-03-08T01:00:00|2026-03-08T04:00:00||cpu=2,gres/gpu:v100=1,gres/gpu:a100=2|"
    "COMPLETED",
    "103|long|ada|physics|gpu|hpc|2026-03-30T08:00:00|Unknown|||RUNNING",
    "104|queued|ada|physics|gpu|hpc|None|None|||PENDING",
]


RATES = """source,service_name,unit,list_unit_price,billed_unit_price,valid_from
hpc,*,billing-hour,0.10,0.08,2026-01-01
hpc,*,cpu-hour,0.02,0.02,2026-01-01
hpc,*,gpu-hour,1.00,1.00,2026-01-01
hpc,*,mem-gb-hour,0.001,0.001,2026-01-01
cryo,*,billing-hour,0.10,0.10,2026-01-01
storage,*,TB-month,5.00,4.00,2026-01-01
"""


def _config(workdir: Path) -> Path:
    """The example config with hpc on New York time, a second cluster, cryo, on Los Angeles time, and the rates
    that price their jobs and storage (`ocb ingest` prices the usage it imports)."""
    config = workdir / "config.yaml"
    text = config.read_text()
    if "name: cryo" in text:
        return config
    hpc = '{name: hpc, pattern: hpc, display_name: "HPC Cluster", fund_org: "RCIT-900010", account_code: "54200"}'
    assert hpc in text
    text = text.replace(hpc, hpc[:-1] + ", timezone: America/New_York}\n"
                        "    - {name: cryo, pattern: cryo, fund_org: RCIT-900011, timezone: America/Los_Angeles}")
    config.write_text(text + "\npricing:\n  rates_file: rates.csv\n")
    (workdir / "rates.csv").write_text(RATES)
    return config


def _write(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _invoke(workdir: Path, monkeypatch, *args: str):
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dh"))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    return CliRunner().invoke(cli, [*args, "-c", str(_config(workdir))], catch_exceptions=False)


def _rows(workdir: Path, sql: str, params=None) -> list[tuple]:
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        return con.execute(sql, params or []).fetchall()


def _import(con, path: Path, settings, source: str, months=None):
    """The service's import of each month, as the focus_raw asset runs it."""
    months = months or inspect_file(path, timezone=settings.source(source).timezone).months
    return [r for m in months for r in import_file(con, path, months=[m], source=source,
                                                     defaults=SourceDefaults.of(settings, source))]


def test_ocb_ingest_reads_sacct_jobs_into_the_month_of_their_utc_end(workdir, monkeypatch):
    path = _write(workdir / "hpc_2026-03.txt", HEADER, HPC_LINES)
    result = _invoke(workdir, monkeypatch, "ingest", str(path), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    [entry] = summary["files"]
    assert entry["periods"] == ["2026-03", "2026-04"] and entry["source"] == "hpc"
    assert any("skipped 2 job step line(s)" in n and "2 unfinished job(s)" in n for n in entry["notes"])
    jobs = _rows(workdir, "SELECT billing_month, file_row_number, job_id, account, partition, started_at, ended_at, "
                          "elapsed_hours, billing_units, cpus, gpus, mem_gb FROM usage_rows ORDER BY file_row_number")
    D = Decimal
    assert [j[:5] for j in jobs] == [("2026-04", 1, "100", "physics", "gpu"), ("2026-04", 4, "101", "chem", "cpu"),
                                     ("2026-03", 5, "102", "chem", "cpu")]
    assert [(str(j[5]), str(j[6])) for j in jobs] == [
        ("2026-04-01 00:00:00", "2026-04-01 05:30:00"), ("2026-03-31 23:00:00", "2026-04-01 01:30:00"),
        ("2026-03-08 06:00:00", "2026-03-08 08:00:00")]
    # The total gres/gpu, not the typed count again; typed counts summed when there is no total.
    assert [j[7:] for j in jobs] == [(D("5.5"), D(16), D(8), D(2), D(64)),
                                     (D("2.5"), None, D(4), None, D("0.48828125")), (D(2), None, D(2), D(3), None)]
    files = _rows(workdir, "SELECT billing_month, focus_version, file_format, row_count FROM import_files "
                           "ORDER BY billing_month")
    assert files == [("2026-03", "slurm-sacct", "sacct", 1), ("2026-04", "slurm-sacct", "sacct", 2)]
    assert _rows(workdir, "SELECT count(*) FROM imports WHERE focus_version = 'slurm-sacct' AND run_id IS NOT NULL "
                          "AND file_sha256 <> ''") == [(2,)]
    # Priced, each job is a FOCUS row under its usage import's key and line number.
    assert _rows(workdir, "SELECT f.file_row_number FROM focus_rows f JOIN usage_rows u "
                          "USING (import_key, file_row_number) ORDER BY 1") == [(1,), (4,), (5,)]
    # April's jobs of a file named for March are April's by rule (their UTC End), not strays: no period_mismatch.
    assert _rows(workdir, "SELECT count(*) FROM validated_lines WHERE list_contains(review_reasons, "
                          "'period_mismatch')") == [(0,)]
    again = _invoke(workdir, monkeypatch, "ingest", str(path), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["files"][0]["status"] == ["unchanged"]
    assert _rows(workdir, "SELECT count(*), min(import_key) FROM usage_rows") == [(3, 1)]


def test_dry_run_reads_and_checks_a_sacct_file_and_writes_nothing(workdir, monkeypatch):
    path = _write(workdir / "hpc_2026-04.sacct", HEADER, HPC_LINES[:2])
    result = _invoke(workdir, monkeypatch, "ingest", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "hpc_2026-04.sacct" in result.output and "skipped 1 job step line(s)" in result.output
    assert _rows(workdir, "SELECT count(*) FROM usage_rows") == [(0,)]


def test_two_clusters_feed_one_month_each_in_its_own_time(workdir, monkeypatch):
    hpc = _write(workdir / "hpc_2026-04.txt", HEADER, [HPC_LINES[0]])
    # 20:00 on 31 March in Los Angeles is 03:00 UTC on 1 April.
    cryo = _write(workdir / "cryo_2026-04.sacct", "JobID|Account|Start|End|AllocTRES",
                  ["7|bio|2026-03-31T19:00:00|2026-03-31T20:00:00|billing=4,cpu=4"])
    result = _invoke(workdir, monkeypatch, "ingest", str(hpc), str(cryo))
    assert result.exit_code == 0, result.output
    assert _rows(workdir, "SELECT f.source, f.file_name, f.row_count, u.job_id, u.ended_at, u.elapsed_hours "
                          "FROM import_files f JOIN imports i USING (source, file_name, billing_month) "
                          "JOIN usage_rows u USING (import_key) WHERE f.billing_month = '2026-04' ORDER BY 1") == [
        ("cryo", "cryo_2026-04.sacct", 1, "7", datetime(2026, 4, 1, 3), Decimal(1)),
        ("hpc", "hpc_2026-04.txt", 1, "100", datetime(2026, 4, 1, 5, 30), Decimal("5.5"))]


@pytest.mark.parametrize(("line", "named"), [
    ("9|j|u|a|cpu|hpc|2026-04-02T00:00:00|2026-04-02T01:00:00|3600|cpu=eight,mem=1G|COMPLETED",
     "row 2 (line 3), column AllocTRES, value 'cpu=eight,mem=1G': its cpu value is not a number of 0 or more"),
    ("9|j|u|a|cpu|hpc|2026-04-02T00:00:00|2026-04-02T01:00:00|3600|billing=-4|COMPLETED",
     "row 2 (line 3), column AllocTRES, value 'billing=-4': its billing value is not a number of 0 or more"),
    ("9|j|u|a|cpu|hpc|2026-04-02T00:00:00|2026-04-31T01:00:00|3600|cpu=1|COMPLETED",
     "row 2 (line 3), column End, value '2026-04-31T01:00:00': is not a date and time"),
    ("9|j|u|a|cpu|hpc|2026-04-02T00:00:00|2026-04-02T01:00:00|1.5|cpu=1|COMPLETED",
     "row 2 (line 3), column ElapsedRaw, value '1.5': is not a whole number of seconds"),
    ("9|j|u|a|cpu|hpc|2026-04-02T00:00:00|2026-04-01T01:00:00||cpu=1|COMPLETED",
     "row 2 (line 3), column End, value '2026-04-01T01:00:00': is before the job's Start"),
])
def test_a_bad_line_refuses_the_file_naming_line_column_and_value(workdir, monkeypatch, line, named):
    path = _write(workdir / "hpc_2026-04.txt", HEADER, [HPC_LINES[0]])
    settings = load_config(_config(workdir))
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:  # imported as focus_raw imports it
        assert [r.status for r in _import(con, path, settings, "hpc")] == ["imported"]
    _write(path, HEADER, [HPC_LINES[0], line])  # corrected, but with a bad line: refused, the old lines kept
    result = _invoke(workdir, monkeypatch, "ingest", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"hpc_2026-04.txt: {named}" in result.output
    assert _rows(workdir, "SELECT job_id FROM usage_rows") == [("100",)]


def test_a_header_without_the_columns_a_charge_needs_is_refused(workdir, monkeypatch):
    path = _write(workdir / "hpc_2026-04.txt", "JobID|Account|End", ["1|a|2026-04-02T00:00:00"])
    result = _invoke(workdir, monkeypatch, "ingest", str(path))
    assert result.exit_code == 1
    assert "a Slurm sacct --parsable2 file, but the header lacks column(s) AllocTRES" in result.output
    extra = _write(workdir / "storage_2026-04.csv", "date,path_or_project,bytes,owner", ["2026-04-01,/p,1,x"])
    assert "unknown column(s): owner" in _invoke(workdir, monkeypatch, "ingest", str(extra)).output


def test_storage_reports_in_bytes_and_in_terabytes(workdir, monkeypatch):
    in_bytes = _write(workdir / "storage_2026-04.csv", "Date,Path_or_Project,Bytes",
                      ["2026-04-01,/proj/physics,1500000000001", "2026-04-02,/proj/physics,0",
                       "2026-05-01,/proj/physics,2000000000000"])
    in_tb = _write(workdir / "storage_tb_2026-04.csv", "\ufeffdate,path_or_project,TB",
                   ["2026-04-01,chem-lab,2.5", "2026-04-01,chem-lab,0.000000000001"])
    result = _invoke(workdir, monkeypatch, "ingest", str(in_bytes), str(in_tb))
    assert result.exit_code == 0, result.output
    assert _rows(workdir, "SELECT i.file_name, u.billing_month, u.file_row_number, u.usage_kind, u.account, "
                          "CAST(u.usage_date AS VARCHAR), u.terabytes FROM usage_rows u JOIN imports i "
                          "USING (import_key) ORDER BY 1, 3") == [
        ("storage_2026-04.csv", "2026-04", 1, "storage_day", "/proj/physics", "2026-04-01", Decimal("1.500000000001")),
        ("storage_2026-04.csv", "2026-04", 2, "storage_day", "/proj/physics", "2026-04-02", Decimal(0)),
        ("storage_2026-04.csv", "2026-05", 3, "storage_day", "/proj/physics", "2026-05-01", Decimal(2)),
        ("storage_tb_2026-04.csv", "2026-04", 1, "storage_day", "chem-lab", "2026-04-01", Decimal("2.5")),
        ("storage_tb_2026-04.csv", "2026-04", 2, "storage_day", "chem-lab", "2026-04-01", Decimal("1E-12"))]
    assert _rows(workdir, "SELECT DISTINCT focus_version FROM import_files") == [("storage-usage",)]
    _write(in_tb, "date,path_or_project,TB", ["2026-04-01,chem-lab,-1"])
    refused = _invoke(workdir, monkeypatch, "ingest", str(in_tb))
    assert refused.exit_code == 1
    assert "storage_tb_2026-04.csv: row 1 (line 2), column TB, value '-1': is not a number of terabytes" in (
        refused.output)


def test_a_corrected_file_replaces_its_own_lines_and_a_closed_month_refuses(workdir):
    settings = load_config(_config(workdir))
    path = _write(workdir / "hpc_2026-04.txt", HEADER, HPC_LINES[:1] + HPC_LINES[3:4])
    other = _write(workdir / "storage_2026-04.csv", "date,path_or_project,bytes", ["2026-04-01,/p,1"])
    with wh.connect(settings.warehouse_path) as con:
        assert [r.status for r in _import(con, path, settings, "hpc")] == ["imported"]
        _import(con, other, settings, "storage")
        assert con.execute("SELECT DISTINCT billed_total, list_total FROM import_files").fetchall() == [(0, 0)]
        key = con.execute("SELECT import_key FROM imports WHERE file_name = ?", [path.name]).fetchall()
        assert [(r.status, r.rows) for r in _import(con, path, settings, "hpc")] == [("unchanged", 0)]
        assert con.execute("SELECT import_key FROM imports WHERE file_name = ?", [path.name]).fetchall() == key
        _write(path, HEADER, HPC_LINES[:1])  # one job fewer
        assert [(r.status, r.rows) for r in _import(con, path, settings, "hpc")] == [("imported", 1)]
        assert con.execute("SELECT job_id FROM usage_rows u JOIN imports i USING (import_key) "
                           "WHERE i.file_name = ?", [path.name]).fetchall() == [("100",)]
        assert con.execute("SELECT count(*) FROM usage_rows").fetchall() == [(2,)]  # the storage line kept
        con.execute("UPDATE billing_periods SET status = 'closed' WHERE period = '2026-04'")
        _write(path, HEADER, HPC_LINES[:1] + HPC_LINES[3:4])
        with pytest.raises(wh.PeriodLockedError, match="ocb periods reopen 2026-04"):
            _import(con, path, settings, "hpc")
        assert con.execute("SELECT count(*), sum(row_count) FROM import_files").fetchall() == [(2, 2)]


def test_the_inbox_sensor_and_focus_raw_take_a_sacct_file_into_the_month_it_ended(workdir):
    _config(workdir)
    inbox = workdir / "data" / "inbox"
    _write(inbox / "hpc_jobs.txt", HEADER, [HPC_LINES[3]])  # 31 March in New York, April in UTC
    (inbox / "notes.txt").write_text("not usage\n")
    settings = load_config(workdir / "config.yaml")
    assert [p.name for p in inbox_files(settings)] == ["hpc_jobs.txt"]
    with dg.build_sensor_context(resources=build_resources(workdir / "config.yaml")) as context:
        result = focus_inbox_sensor(context)
    assert [r.partition_key for r in result.run_requests] == ["2026-04"]
    with wh.connect(settings.warehouse_path) as con:
        outcome = import_month(con, settings, "2026-04")
        assert not outcome.refused and [(r.status, r.rows) for r in outcome.imported] == [("imported", 1)]
        assert con.execute("SELECT file_sha256, months FROM file_catalog").fetchall()[0][1] == ["2026-04"]


def test_usage_imports_are_listed_with_the_other_imports(workdir, monkeypatch):
    path = _write(workdir / "hpc_2026-04.txt", HEADER, [HPC_LINES[0]])
    assert _invoke(workdir, monkeypatch, "ingest", str(path)).exit_code == 0
    ctx = app_context(load_config(workdir / "config.yaml"))
    history = import_history(ctx)
    assert [(e["file_name"], e["row_count"]) for e in history.entries] == [("hpc_2026-04.txt", 1)]
    assert [(m.period, m.files, m.sources) for m in month_summaries(ctx)] == [("2026-04", 1, ["hpc"])]
    listed = _invoke(workdir, monkeypatch, "sources", "list", "--json")
    assert listed.exit_code == 0
    sources = json.loads(listed.stdout)["sources"]
    assert [(s["files"], s["rows"], s["months"]) for s in sources if s["name"] == "hpc"] == [(1, 1, ["2026-04"])]


def test_detection_is_by_header_not_name(tmp_path):
    sacct = _write(tmp_path / "jobs.csv", "JobID|Account|End|AllocTRES", [])
    storage = _write(tmp_path / "usage.txt", "DATE,Path_Or_Project,tb", [])
    focus = _write(tmp_path / "aws.csv", "BilledCost,ServiceName", [])
    assert [usage.usage_kind(p) for p in (sacct, storage, focus)] == ["slurm-sacct", "storage-usage", None]
    with pytest.raises(ImportRefused, match="header but no data rows"):
        inspect_file(sacct)


def test_a_line_with_more_fields_than_the_header_is_refused_by_row(tmp_path):
    path = _write(tmp_path / "hpc.sacct", "JobID|Account|End|AllocTRES",
                  ["1|a|2026-04-01T00:00:00|cpu=1", "2|a|2026-04-01T00:00:00|cpu=1|secret|x"])
    with pytest.raises(ImportRefused) as refused:
        inspect_file(path)
    assert str(refused.value) == (
        "hpc.sacct: is not well-formed sacct --parsable2 output: row 2 (line 3) has more fields than the header's 4 "
        "(a '|' in a job name? sacct --delimiter can choose another)")
    _write(path, "JobID|Account|End|AllocTRES", ["1|a|2026-04-01T00:00:00"])
    with pytest.raises(ImportRefused, match=r"row 1 \(line 2\) has 3 field\(s\) where the header has 4"):
        inspect_file(path)


def test_sacct_parsable_with_its_trailing_pipe_and_a_gzip_file_are_read(tmp_path):
    import gzip

    trailing = _write(tmp_path / "a.sacct", "JobID|Account|End|AllocTRES|", ["1|a|2026-04-01T00:00:00|cpu=1|"])
    packed = tmp_path / "b.sacct.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as out:
        out.write("JobID|Account|End|AllocTRES\n1|a|2026-04-01T00:00:00|cpu=1\n")
    assert [(f.months, f.row_count) for f in map(inspect_file, (trailing, packed))] == [(("2026-04",), 1)] * 2
