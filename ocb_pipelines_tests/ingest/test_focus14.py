"""FOCUS 1.4 cost-and-usage files (issue 20): the version told from the header, ServiceProviderName standing for
the removed ProviderName, and a file in each big provider's shape imported and billed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.config import load_config
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.focus import canonical_header, detect_version
from ocb_pipelines.ingest.importer import ImportRefused, import_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import VERSION_COLUMNS
from ocb_pipelines_tests.ingest.focus14_files import COST_COLUMNS_1_4, SHAPES, cost_row, write_cost_file

MONTH = "2026-05"
CUSTOM = {"aws": "x_UsageType", "azure": "x_ResourceGroupName", "gcp": "x_ProjectNumber",
          "oci": "oci_ReferenceNumber"}


def test_version_14_from_the_header():
    assert detect_version(COST_COLUMNS_1_4) == "1.4"
    # without ProviderName and PublisherName, ServiceProviderName alone says 1.4
    bare = [c for c in VERSION_COLUMNS["1.3"] if c not in ("ProviderName", "PublisherName")]
    assert detect_version(bare) == "1.4"
    # a 1.4-only column says 1.4 even beside the deprecated names
    assert detect_version([*VERSION_COLUMNS["1.3"], "InvoiceDetailId"]) == "1.4"
    assert detect_version([*VERSION_COLUMNS["1.3"], "BillingPeriodStatus"]) == "1.4"
    assert detect_version(VERSION_COLUMNS["1.3"]) == "1.3"
    mapping = canonical_header([c.lower() for c in COST_COLUMNS_1_4])
    assert mapping.version == "1.4" and "ProviderName" not in mapping.focus and not mapping.missing


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_14_file_of_each_provider_shape_imports_and_validates(tmp_path, shape):
    path = write_cost_file(tmp_path / f"{shape}_{MONTH}.csv", shape,
                           [cost_row(shape, 1, "12.34"), cost_row(shape, 2, "0.000000000001"),
                            cost_row(shape, 3, "-1.5")])
    settings = load_config(_config(tmp_path))
    with wh.connect(tmp_path / "w.duckdb") as con:
        [result] = import_file(con, path, months=[MONTH], source=shape)
        assert (result.status, result.focus_version, result.rows) == ("imported", "1.4", 3)
        assert result.billed_total == Decimal("10.840000000001")
        summary = build_validated(con, MONTH, rules_from(settings))
        assert summary.rows == 3 and summary.flagged_rows == 0
        providers = con.execute("SELECT DISTINCT provider, focus_version FROM charges_validated").fetchall()
        assert providers == [(SHAPES[shape]["common"]["ServiceProviderName"], "1.4")]
        raw = con.execute(
            'SELECT "BillingPeriodStatus", "InvoiceDetailId", "InvoiceId", x_columns FROM focus_raw '
            "ORDER BY file_row_number").fetchall()
        assert raw[0][:3] == ("Closed", f"{shape}-line-1", SHAPES[shape]["invoice"])
        assert CUSTOM[shape] in json.loads(raw[0][3])  # the provider's own columns are kept
        # the same file again changes nothing
        assert import_file(con, path, months=[MONTH], source=shape)[0].status == "unchanged"


def test_a_bad_billing_period_status_is_refused_by_row(tmp_path):
    path = write_cost_file(tmp_path / f"aws_{MONTH}.csv", "aws",
                           [cost_row("aws", 1, "1"), cost_row("aws", 2, "1", status="Pending")])
    with wh.connect(tmp_path / "w.duckdb") as con, pytest.raises(ImportRefused) as refused:
        import_file(con, path, months=[MONTH], source="aws")
    assert (f"aws_{MONTH}.csv: row 2 (line 3), column BillingPeriodStatus, value 'Pending': not one of the FOCUS "
            "values Open, Closed") in str(refused.value)


def _config(tmp_path):
    from ocb_pipelines_tests.conftest import REPO

    target = tmp_path / "config.yaml"
    target.write_text((REPO / "config.example.yaml").read_text())
    return target


def test_the_four_shapes_bill_through_ocb_ingest_and_close(workdir, monkeypatch):
    """Imported through `ocb ingest` (one Dagster run), closed, approved: every row billed under its provider."""
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dh"))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    paths = [write_cost_file(workdir / f"{s}_{MONTH}.csv", s, [cost_row(s, 1, "10.01"), cost_row(s, 2, "0.99")])
             for s in sorted(SHAPES)]
    config = ["-c", str(workdir / "config.yaml")]
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", *map(str, paths), "-s", "cloud", "--json", *config],
                           catch_exceptions=False)
    summary = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert summary["rows"] == 8 and Decimal(str(summary["billed_total"])) == Decimal("44.00")
    closed = runner.invoke(cli, ["periods", "close", MONTH, "--json", *config], catch_exceptions=False)
    assert closed.exit_code == 0, closed.output
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        billed = dict(con.execute("SELECT provider, sum(billed_cost) FROM charges_approved WHERE billing_month = ? "
                                  "GROUP BY 1", [MONTH]).fetchall())
    assert billed == {"AWS": Decimal("11.00"), "Microsoft": Decimal("11.00"), "Google Cloud": Decimal("11.00"),
                      "Oracle": Decimal("11.00")}
