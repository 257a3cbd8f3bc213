"""An imported invoice (FOCUS 1.4 InvoiceDetail) that differs from our charges of its InvoiceId blocks every close
(services, CLI, the month end) unless --allow-invoice-difference is given with a reason, kept in the notes and the
audit: a difference is money a missing or wrong cost file leaves unbilled or bills twice. A matching invoice, or
none imported, changes nothing."""

from __future__ import annotations

import json

import pytest

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.periods.month_end import decide_month_end
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.ingest.focus14_files import cost_row, invoice_line, write_cost_file, write_invoice_file
from ocb_pipelines_tests.periods.conftest import close_from_cli, closed_as_audited

MONTH = "2026-05"
DIFFERS = ("1 invoice(s) differ from our charges of the same InvoiceId: INV-A (invoice $15.00, ours $15.01, "
           "difference $0.01)")


def _load(settings, invoice_a: str | None):
    """Charges of INV-A (10.00 + 5.01) and INV-B (7.00); an invoice file with INV-A's total, if given, and INV-B's."""
    paths = [write_cost_file(settings.inbox_dir / f"aws_{MONTH}.csv", "aws", [
        cost_row("aws", 1, "10.00", invoice="INV-A"), cost_row("aws", 2, "5.01", invoice="INV-A"),
        cost_row("aws", 3, "7.00", invoice="INV-B")])]
    if invoice_a is not None:
        paths.append(write_invoice_file(settings.inbox_dir / f"aws_invoices_{MONTH}.csv", [
            invoice_line("aws", 1, invoice_a, invoice="INV-A"), invoice_line("aws", 2, "7.00", invoice="INV-B")]))
    with wh.connect(settings.warehouse_path) as con:
        for path in paths:
            import_file(con, path, months=[MONTH], source="aws")
        build_validated(con, MONTH, rules_from(settings))


def _close(settings, *args):
    return close_from_cli(settings, MONTH, *args)


def test_an_invoice_a_cent_off_blocks_every_close_until_a_reason_is_given(settings):
    _load(settings, "15.00")
    with wh.connect(settings.warehouse_path) as con:
        with pytest.raises(lc.PeriodTransitionError) as refused:
            lc.close_period(con, MONTH, "ann")
        step = decide_month_end(con, MONTH, "run-1")  # the unattended month end stops and says why
        assert lc.get_period(con, MONTH).status == "open"
    assert str(refused.value) == (
        f"billing month {MONTH}: {DIFFERS}. A cost file may be missing or wrong: import it, or close anyway with "
        f"`ocb periods close {MONTH} --allow-invoice-difference --reason \"...\"`")
    assert not step.produce and DIFFERS in step.reason
    assert _close(settings).exit_code == 1
    without = _close(settings, "--allow-invoice-difference")
    assert without.exit_code == 1 and "--allow-invoice-difference needs a reason" in without.output
    provisional_only = _close(settings, "--allow-provisional", "--reason", "x")
    assert provisional_only.exit_code == 1 and DIFFERS in provisional_only.output
    closed = _close(settings, "--allow-invoice-difference", "--reason", "AWS rounds each invoice line", "--json")
    assert closed.exit_code == 0, closed.output
    assert json.loads(closed.stdout)["status"] == "closed"
    period, audited_close = closed_as_audited(settings, MONTH)
    assert f"{DIFFERS}: AWS rounds each invoice line" in period.notes
    audited = audited_close["invoice_differences"]
    assert audited["reason"] == "AWS rounds each invoice line"
    assert [(i["invoice_id"], i["difference"]) for i in audited["invoices"]] == [("INV-A", "0.010000000000")]


@pytest.mark.parametrize("invoice_a", ["15.01", None])
def test_a_matching_invoice_or_none_closes_as_before(settings, invoice_a):
    _load(settings, invoice_a)
    closed = _close(settings, "--json")
    assert closed.exit_code == 0, closed.output
    _, audited_close = closed_as_audited(settings, MONTH)
    assert "invoice_differences" not in audited_close
