"""A warehouse is created only on purpose (issue 18, point 13): a mistyped `database.path` is refused instead of
silently starting a new, empty warehouse; the first run says `--init` (or `ocb demo`). Also OpenChargeback's
`version` and `sources sync-status` commands. Real CLI, real DuckDB files."""

from __future__ import annotations

import json
import shutil
import sqlite3
from importlib.metadata import version

import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines_tests.conftest import REPO, focus_row, write_focus

MONTH = "2025-01"


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A new machine: the example config and no warehouse yet."""
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    monkeypatch.delenv("OCB_CONFIG", raising=False)
    return tmp_path


def _ocb(folder, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(folder / "config.yaml")])


@pytest.mark.parametrize("args", [["periods", "list"], ["review", "list", "-p", MONTH], ["ingest", "aws_2025-01.csv"],
                                  ["export-journal", "-p", MONTH], ["audit", "-p", MONTH], ["send", "-p", MONTH]],
                         ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_database_path_is_refused_and_creates_nothing(workdir, monkeypatch, args):
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dagster_home"))
    config = workdir / "config.yaml"
    config.write_text(config.read_text().replace("path: data/warehouse.duckdb", "path: dta/warehouse.duckdb"))
    write_focus(workdir / "aws_2025-01.csv", [focus_row()])
    monkeypatch.chdir(workdir)
    result = _ocb(workdir, *args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        f"Error: no warehouse at {workdir / 'dta' / 'warehouse.duckdb'} (database.path in {config}): if this is the "
        f"first run, create it with `ocb ingest --init FILES` (or `ocb demo` for the demo); otherwise correct "
        f"database.path")
    assert not (workdir / "dta").exists()


def test_the_first_import_needs_init_then_runs_as_usual(fresh):
    january = write_focus(fresh / "aws_2025-01.csv", [focus_row(billed="4.00")])
    february = write_focus(fresh / "aws_2025-02.csv", [focus_row("2025-02", billed="6.00")])
    warehouse = fresh / "data" / "warehouse.duckdb"
    listed = _ocb(fresh, "sources", "list", "--json")  # the configuration alone: fine before the first import
    assert listed.exit_code == 0 and "no warehouse at" in listed.stderr and not warehouse.exists()
    refused = _ocb(fresh, "ingest", str(january))
    assert refused.exit_code == 1 and "ocb ingest --init FILES" in refused.stderr and not warehouse.exists()
    dry = _ocb(fresh, "ingest", str(january), "--dry-run", "--json")  # reads and checks; still nothing written
    assert dry.exit_code == 0 and json.loads(dry.stdout)["rows"] == 1 and not warehouse.exists()
    first = _ocb(fresh, "ingest", "--init", str(january), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["billed_total"] == "4.000000000000" and warehouse.is_file()
    second = _ocb(fresh, "ingest", str(february), "--json")
    assert second.exit_code == 0 and json.loads(second.stdout)["periods"] == ["2025-02"]
    again = _ocb(fresh, "ingest", "--init", str(january), "--json")  # --init on an existing warehouse: harmless
    assert again.exit_code == 0 and json.loads(again.stdout)["files"][0]["status"] == ["unchanged"]
    periods = json.loads(_ocb(fresh, "periods", "list", "--json").stdout)["periods"]
    assert [p["period"] for p in periods] == [MONTH, "2025-02"]


def test_openchargebacks_sqlite_database_is_not_taken_for_a_warehouse(fresh):
    (fresh / "instance").mkdir()
    with sqlite3.connect(fresh / "instance" / "billing.db") as con:
        con.execute("CREATE TABLE charges (id INTEGER PRIMARY KEY, billed_cost REAL)")
    config = fresh / "config.yaml"
    config.write_text(config.read_text().replace("path: data/warehouse.duckdb", "path: ./instance/billing.db"))
    for args in (["periods", "list"], ["ingest", "--init", "x_2025-01.csv"]):
        result = _ocb(fresh, *args)
        assert result.exit_code == 1 and "is a SQLite database (OpenChargeback's billing.db?)" in result.stderr
        assert "ocb import-history" in result.stderr and "data/warehouse.duckdb" in result.stderr
    with sqlite3.connect(fresh / "instance" / "billing.db") as con:  # untouched
        assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("charges",)]


def test_version_command():
    plain = CliRunner().invoke(cli, ["version"])
    assert plain.exit_code == 0 and plain.stdout == CliRunner().invoke(cli, ["--version"]).stdout
    assert plain.stdout == f"ocb, version {version('ocb_pipelines')}\n"
    payload = json.loads(CliRunner().invoke(cli, ["version", "--json"]).stdout)
    assert payload == {"ok": True, "name": "ocb", "version": version("ocb_pipelines")}


def test_sources_sync_status_is_sources_list_with_the_last_import(workdir, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dagster_home"))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    path = write_focus(workdir / "gcp_2025-01.csv", [focus_row(billed="1.00")])
    assert _ocb(workdir, "ingest", str(path)).exit_code == 0
    status = _ocb(workdir, "sources", "sync-status", "--json")
    assert status.exit_code == 0 and status.stdout == _ocb(workdir, "sources", "list", "--json").stdout
    (gcp,) = [s for s in json.loads(status.stdout)["sources"] if s["name"] == "gcp"]
    assert (gcp["files"], gcp["months"]) == (1, [MONTH]) and gcp["last_import"].startswith("20")
    text = _ocb(workdir, "sources", "sync-status")
    assert text.stdout == _ocb(workdir, "sources", "list").stdout and "last=20" in text.stdout
