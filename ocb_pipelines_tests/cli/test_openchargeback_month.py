"""An OpenChargeback month from five sources, end to end through `ocb`: import, close, statements, journal. Every
total is checked to the cent against what OpenChargeback reports for the same files, worked out here from the CSV
files themselves: per PI and project, the sum of BilledCost and of ListCost (BilledCost where ListCost is empty)."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.money import format_money

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples" / "openchargeback"
MONTH = "2025-03"
CENT = Decimal("0.01")


def _from_files(files: list[Path]) -> dict:
    """What OpenChargeback reports for these files, computed from their rows with Decimal."""
    projects: dict[tuple[str, str], dict] = defaultdict(lambda: {"billed": Decimal(0), "list": Decimal(0), "lines": 0})
    sources: dict[str, dict] = {}
    for path in files:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        billed = [Decimal(r["BilledCost"]) for r in rows]
        listed = [Decimal(r["ListCost"]) if r["ListCost"] else b for r, b in zip(rows, billed, strict=True)]
        sources[path.name.split("_")[0]] = {"rows": len(rows), "billed": sum(billed), "list": sum(listed)}
        for row, b, lst in zip(rows, billed, listed, strict=True):
            tags = json.loads(row["Tags"])
            entry = projects[(tags["pi_email"], tags["project_id"])]
            entry["billed"] += b
            entry["list"] += lst
            entry["lines"] += 1
    return {"projects": dict(projects), "sources": sources}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    shutil.copytree(SAMPLES, tmp_path / "exports")
    monkeypatch.setenv("OCB_ACTOR", "migration-tester")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("OCB_CONFIG", raising=False)
    return tmp_path


def _ocb(project: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json", "-c", str(project / "config.yaml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_openchargeback_month_from_five_sources_reconciles_to_the_cent(project):
    files = sorted((project / "exports").glob("*.csv"))
    assert [f.name.split("_")[0] for f in files] == ["aws", "azure", "gcp", "hpc", "storage"]
    expected = _from_files(files)
    projects, sources = expected["projects"], expected["sources"]
    billed_total = sum(s["billed"] for s in sources.values())
    list_total = sum(s["list"] for s in sources.values())

    imported = _ocb(project, "ingest", "--init", *map(str, files))  # the first import creates the warehouse
    assert imported["ok"] and imported["periods"] == [MONTH] and imported["flagged_rows"] == 0
    assert imported["rows"] == sum(s["rows"] for s in sources.values())
    assert (Decimal(imported["billed_total"]), Decimal(imported["list_total"])) == (billed_total, list_total)
    for entry in imported["files"]:
        source = sources[entry["source"]]
        assert entry["status"] == ["imported"] and entry["rows"] == source["rows"]
        assert (Decimal(entry["billed_total"]), Decimal(entry["list_total"])) == (source["billed"], source["list"])
        missing = ["BillingAccountId", "BillingCurrency", "ChargeCategory", "ProviderName"]
        assert list(entry["filled_columns"]) == missing + (["EffectiveCost"] if entry["source"] == "gcp" else [])

    assert _ocb(project, "periods", "close", MONTH)["ok"]

    generated = _ocb(project, "generate", "-p", MONTH)
    statements = {(s["pi_email"], s["project_id"]): s for s in generated["statements"]}
    assert set(statements) == set(projects)  # one statement per PI x project
    for key, want in projects.items():
        statement = statements[key]
        assert (Decimal(statement["billed_total"]), Decimal(statement["list_total"])) == (want["billed"], want["list"])
        with open(statement["csv_path"], encoding="utf-8-sig", newline="") as handle:
            lines = list(csv.DictReader(handle))
        assert len(lines) == want["lines"]
        assert sum(Decimal(x["billed_cost"]) for x in lines) == want["billed"]
        assert sum(Decimal(x["list_price_used"]) for x in lines) == want["list"]
        assert {(x["charge_period_start"], x["charge_period_end"]) for x in lines} <= {
            ("2025-03-01 00:00:00", "2025-04-01 00:00:00"),  # the inclusive month end, read as the month
            ("2025-03-14 00:00:00", "2025-03-14 00:00:00"), ("2025-03-21 00:00:00", "2025-03-21 00:00:00")}
        text = " ".join(page.extract_text() for page in PdfReader(statement["pdf_path"]).pages)
        assert format_money(want["billed"], "$") in text, (key, format_money(want["billed"], "$"))

    journal = _ocb(project, "export-journal", "-p", MONTH, "-f", "gl")
    assert Decimal(journal["debit_total"]) == Decimal(journal["credit_total"]) == billed_total.quantize(CENT)
    with open(journal["file"], encoding="utf-8-sig", newline="") as handle:
        gl = list(csv.DictReader(handle))
    recovery = {line["Description"].split()[0]: Decimal(line["Credit"]) for line in gl if line["Credit"]}
    assert recovery == {name: s["billed"].quantize(CENT) for name, s in sources.items()}
    summary = _ocb(project, "export-journal", "-p", MONTH, "-f", "summary")
    with open(summary["file"], encoding="utf-8-sig", newline="") as handle:
        per_project = {(x["pi_email"], x["project_id"]): (Decimal(x["billed_cost_exact"]), int(x["charge_count"]))
                       for x in csv.DictReader(handle)}
    assert per_project == {key: (want["billed"], want["lines"]) for key, want in projects.items()}
