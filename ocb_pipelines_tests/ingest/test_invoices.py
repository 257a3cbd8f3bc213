"""FOCUS 1.4 InvoiceDetail files (issue 20): told by their header, kept whole or not at all in invoice_lines (never
billed), and each invoice compared with the month's charges of its InvoiceId, exactly: an invoice one cent off is
shown in charges_validated's metadata and on the desk's month page."""

from __future__ import annotations

import html
import shutil
from decimal import Decimal

import dagster as dg
import pytest

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import load_config
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import ImportRefused, import_file, inspect_file
from ocb_pipelines.ingest.invoice_check import invoice_checks
from ocb_pipelines.ingest.invoices import INVOICE_VERSION, is_invoice_file
from ocb_pipelines.periods.reconcile import reconcile
from ocb_pipelines.services import periods
from ocb_pipelines.services.imports import import_files, plan_import
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import REPO
from ocb_pipelines_tests.ingest.focus14_files import (
    cost_row,
    invoice_line,
    write_cost_file,
    write_invoice_file,
)
from ocb_pipelines_tests.web.conftest import Desk, csrf
from ocb_pipelines_tests.web.month_end import table

MONTH = "2026-05"


def _settings(tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.example.yaml").read_text())
    return load_config(tmp_path / "config.yaml")


def _cost_and_invoices(folder, invoice_lines):
    """AWS charges of two invoices (A: 10.00 + 5.01, B: 7.00) and an InvoiceDetail file with the given lines."""
    cost = write_cost_file(folder / f"aws_{MONTH}.csv", "aws", [
        cost_row("aws", 1, "10.00", invoice="INV-A"), cost_row("aws", 2, "5.01", invoice="INV-A"),
        cost_row("aws", 3, "7.00", invoice="INV-B")])
    invoices = write_invoice_file(folder / f"aws_invoices_{MONTH}.csv", invoice_lines)
    return cost, invoices


def test_an_invoice_one_cent_off_is_found_exactly(tmp_path):
    settings = _settings(tmp_path)
    cost, invoices = _cost_and_invoices(tmp_path, [
        invoice_line("aws", 1, "15.00", invoice="INV-A"), invoice_line("aws", 2, "7.00", invoice="INV-B")])
    assert is_invoice_file(invoices) and not is_invoice_file(cost)
    facts = inspect_file(invoices)
    assert facts.months == (MONTH,) and facts.row_count == 2 and "InvoiceDetail" in facts.notes[0]
    with wh.connect(tmp_path / "w.duckdb") as con:
        import_file(con, cost, months=[MONTH], source="aws")
        [result] = import_file(con, invoices, months=[MONTH], source="aws")
        assert (result.status, result.focus_version, result.rows) == ("imported", INVOICE_VERSION, 2)
        build_validated(con, MONTH, rules_from(settings))
        checks = {c.invoice_id: c for c in invoice_checks(con, MONTH)}
        # the invoice file bills nothing: the month still reconciles, its charges are the cost file's
        assert reconcile(con, MONTH).balanced
        assert con.execute("SELECT sum(billed_cost) FROM charges_validated").fetchall() == [(Decimal("22.01"),)]
        assert con.execute("SELECT focus_version, billed_total, row_count FROM import_files WHERE file_name = ?",
                           [invoices.name]).fetchall() == [(INVOICE_VERSION, 0, 2)]
        # the same file again changes nothing
        assert import_file(con, invoices, months=[MONTH], source="aws")[0].status == "unchanged"
        assert con.execute("SELECT count(*) FROM invoice_lines").fetchall() == [(2,)]
    a, b = checks["INV-A"], checks["INV-B"]
    assert (a.invoice_total, a.our_total, a.difference, a.matches) == (
        Decimal("15.00"), Decimal("15.01"), Decimal("0.01"), False)
    assert (b.difference, b.matches, b.issuer, b.our_rows) == (Decimal(0), True, "AWS", 1)


def test_a_bad_invoice_file_is_refused_whole_naming_row_column_and_value(tmp_path):
    _, invoices = _cost_and_invoices(tmp_path, [
        invoice_line("aws", 1, "15.00"), invoice_line("aws", 2, "1,50"), {**invoice_line("aws", 3, "1"),
                                                                         "InvoiceId": ""}])
    with wh.connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(ImportRefused) as refused:
            import_file(con, invoices, months=[MONTH], source="aws")
        assert con.execute("SELECT count(*) FROM invoice_lines").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM import_files").fetchall() == [(0,)]
    assert f"aws_invoices_{MONTH}.csv: row 2 (line 3), column BilledCost, value '1,50'" in str(refused.value)
    fixed = write_invoice_file(invoices, [invoice_line("aws", 1, "15.00"), {**invoice_line("aws", 3, "1"),
                                                                           "InvoiceId": ""}])
    with wh.connect(tmp_path / "w.duckdb") as con, pytest.raises(ImportRefused) as refused:
        import_file(con, fixed, months=[MONTH], source="aws")
    assert f"aws_invoices_{MONTH}.csv: row 2 (line 3), column InvoiceId: a value is required" in str(refused.value)


@pytest.fixture
def desk(desk_template, tmp_path, monkeypatch) -> Desk:
    """A copy of the web tests' prepared desk (users ada, rita, vic), its own warehouse and Dagster home."""
    root = tmp_path / "project"
    shutil.copytree(desk_template, root)
    monkeypatch.setenv("DAGSTER_HOME", str(root / "data" / "dagster_home"))
    return Desk(root, load_config(root / "config.yaml"))


def test_the_difference_is_in_the_metadata_and_on_the_desk(desk):
    """Through the application layer (a real ingest_job run) and the desk's month page, as an admin sees it; the
    month's one provisional row is there too, and closing it takes a reason on the desk as on the CLI."""
    cost, invoices = _cost_and_invoices(desk.root, [
        invoice_line("aws", 1, "15.00", invoice="INV-A"), invoice_line("aws", 2, "7.00", invoice="INV-B")])
    write_cost_file(cost, "aws", [cost_row("aws", 1, "10.00", invoice="INV-A", status="Open"),
                                  cost_row("aws", 2, "5.01", invoice="INV-A"), cost_row("aws", 3, "7.00",
                                                                                     invoice="INV-B")])
    ctx = desk.context("ada")
    summary = import_files(ctx, plan_import(ctx, [cost, invoices], source="aws"))
    assert summary["ok"], summary
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("charges_validated"))
    metadata = event.asset_materialization.metadata
    assert metadata["invoice_differences"].value == 1 and metadata["invoices_checked"].value == 2
    assert "| INV-A | AWS | $15.00 | $15.01 | $0.01 |" in metadata["invoice_reconciliation"].value
    assert metadata["provisional_rows"].value == 1 and metadata["provisional_billed"].value == "$10.00 USD"

    client = desk.client("ada")
    page = client.get(f"/months/{MONTH}")
    assert page.status_code == 200
    assert table(page.text, "invoices")[1:] == [["INV-A", "AWS", "$15.00", "$15.01 (2)", "$0.01"],
                                                ["INV-B", "AWS", "$7.00", "$7.00 (1)", "$0.00"]]
    assert "1 invoice(s) differ from our charges" in page.text
    assert "1 provisional row(s) ($10.00)" in page.text and 'name="provisional_reason"' in page.text
    assert 'name="invoice_reason"' in page.text
    refused = client.post(f"/months/{MONTH}/close", data={"csrf_token": csrf(client), "note": ""})
    assert refused.status_code == 409 and "1 provisional row(s) ($10.00)" in refused.text
    form = {"csrf_token": csrf(client), "note": "", "provisional_reason": "AWS final file due 3 June"}
    refused = client.post(f"/months/{MONTH}/close", data=form)  # the invoice still differs by a cent
    assert refused.status_code == 409 and html.unescape(refused.text).count(
        "1 invoice(s) differ from our charges of the same InvoiceId: INV-A (invoice $15.00, ours $15.01, "
        "difference $0.01). A cost file may be missing or wrong") == 1
    assert {p.period: p.status for p in periods.list_periods(ctx)}[MONTH] == "open"
    closed = client.post(f"/months/{MONTH}/close", data={**form, "csrf_token": csrf(client),
                                                        "invoice_reason": "AWS rounds per invoice line"},
                         follow_redirects=False)
    assert closed.status_code == 303
    notes = html.unescape(client.get(f"/months/{MONTH}").text)
    assert "AWS final file due 3 June" in notes and "difference $0.01): AWS rounds per invoice line" in notes
