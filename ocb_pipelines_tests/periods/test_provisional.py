"""Provisional rows (FOCUS 1.4 BillingPeriodStatus Open, issue 20): kept and billed, counted per month, and a month
with any cannot close (CLI, services, month end) unless --allow-provisional is given with a reason, which is kept
in the notes and the audit. The provider's final file under the same name replaces them and unblocks the close."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.ingest.invoice_check import provisional_rows
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.periods.month_end import decide_month_end
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.ingest.focus14_files import cost_row, write_cost_file
from ocb_pipelines_tests.periods.conftest import close_from_cli, closed_as_audited

MONTH = "2026-05"
NAME = f"aws_{MONTH}.csv"


def _load(settings, statuses: list[str]):
    rows = [cost_row("aws", n, "10.005", status=s) for n, s in enumerate(statuses, start=1)]
    path = write_cost_file(settings.inbox_dir / NAME, "aws", rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[MONTH], source="aws")
        build_validated(con, MONTH, rules_from(settings))
    return path


def _close(settings, *args):
    return close_from_cli(settings, MONTH, *args)


def test_provisional_rows_are_counted_and_block_every_close(settings):
    _load(settings, ["Open", "open", "Closed"])
    with wh.connect(settings.warehouse_path) as con:
        assert provisional_rows(con, MONTH).as_dict() == {"rows": 2, "billed": Decimal("20.010")}
        # billed like any row: the month reconciles with them in it
        assert con.execute("SELECT count(*), sum(billed_cost) FROM charges_validated").fetchall() == [
            (3, Decimal("30.015"))]
        with pytest.raises(lc.PeriodTransitionError) as refused:
            lc.close_period(con, MONTH, "ann")
        # the unattended month end goes through the same rule: it stops and says why
        step = decide_month_end(con, MONTH, "run-1")
        assert lc.get_period(con, MONTH).status == "open"
    message = str(refused.value)
    assert "2 provisional row(s) ($20.01)" in message and "BillingPeriodStatus is Open" in message
    assert f"ocb periods close {MONTH} --allow-provisional --reason" in message
    assert not step.produce and "2 provisional row(s)" in step.reason
    result = _close(settings)
    assert result.exit_code == 1 and "2 provisional row(s)" in result.output and "Traceback" not in result.output


def test_allow_provisional_needs_a_reason_which_is_kept_and_audited(settings):
    _load(settings, ["Open", "Closed"])
    without = _close(settings, "--allow-provisional")
    assert without.exit_code == 1 and "--allow-provisional needs a reason" in without.output
    alone = _close(settings, "--reason", "x")
    assert alone.exit_code == 1 and "--reason goes with --allow-provisional" in alone.output
    closed = _close(settings, "--allow-provisional", "--reason", "grant ends; AWS final data due in July", "--json")
    assert closed.exit_code == 0, closed.output
    assert json.loads(closed.stdout)["status"] == "closed"
    period, audited_close = closed_as_audited(settings, MONTH)
    assert "1 provisional row(s) ($10.00): grant ends; AWS final data due in July" in period.notes
    assert audited_close["provisional"] == {"rows": 1, "billed": "10.005000000000",
                                                  "reason": "grant ends; AWS final data due in July"}


def test_the_final_file_replacing_the_provisional_rows_unblocks_the_close(settings):
    _load(settings, ["Open", "Open"])
    assert _close(settings).exit_code == 1
    _load(settings, ["Closed", "Closed"])  # the provider's final export, same file name: replaces its rows
    with wh.connect(settings.warehouse_path) as con:
        assert provisional_rows(con, MONTH).rows == 0
    result = _close(settings)
    assert result.exit_code == 0, result.output
    _, audited_close = closed_as_audited(settings, MONTH)
    assert "provisional" not in audited_close
