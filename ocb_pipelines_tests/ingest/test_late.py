"""Late data for a closed or finalized month: kept against it, its difference booked in the next open month.

Domain level (a real DuckDB file, the importer, validation, review decisions and the period lifecycle); the same
flow through `ocb ingest` and Dagster runs is in services/test_late_imports.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import ImportRefused, import_file
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.services.charge_detail import charge_detail
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.periods.conftest import load_rows

JAN, FEB, MAR = "2025-01", "2025-02", "2025-03"
FILE = "aws_2025-01.csv"


def _import(settings, rows, name=FILE, month=JAN):
    path = write_focus_csv(settings.inbox_dir / name, rows)
    with wh.connect(settings.warehouse_path) as con:
        results = import_file(con, path, months=[month], source="aws")
    return results


def _validate(settings, month):
    with wh.connect(settings.warehouse_path) as con:
        build_validated(con, month, rules_from(settings))


def _approve_all_and_close(settings, month):
    with wh.connect(settings.warehouse_path) as con:
        pending = rd.select_charge_ids(con, month, everything=True)
        flagged = [c for (c,) in con.execute(
            "SELECT charge_id FROM charges_validated WHERE billing_month = ? AND needs_review", [month]).fetchall()]
        assert set(flagged) <= set(pending)
        if flagged:
            rd.record_decisions(con, month, [rd.Decision(c, "approve", "checked") for c in flagged], actor="x",
                                via="cli")
        lc.close_period(con, month, "x")


def _billed(con, month, where="TRUE"):
    return con.execute(f"SELECT coalesce(sum(billed_cost), 0) FROM charges_validated WHERE billing_month = ? "
                       f"AND {where}", [month]).fetchall()[0][0]


def _month_snapshot(con, month):
    return (con.execute("SELECT * FROM focus_rows WHERE billing_month = ? ORDER BY ALL", [month]).fetchall(),
            con.execute("SELECT * FROM charges_validated WHERE billing_month = ? ORDER BY ALL", [month]).fetchall(),
            con.execute("SELECT * FROM import_files WHERE billing_month = ? ORDER BY ALL", [month]).fetchall())


ORIGINAL = [charge_row(resource="a"), charge_row(resource="b", billed="3.30")]


@pytest.fixture
def closed_january(settings):
    load_rows(settings, ORIGINAL, name=FILE)
    _approve_all_and_close(settings, JAN)
    return settings


def test_late_usage_after_close_is_kept_and_booked_in_the_next_open_month(closed_january):
    settings = closed_january
    with wh.connect(settings.warehouse_path) as con:
        before = _month_snapshot(con, JAN)
    (result,) = _import(settings, [charge_row(resource="late-vm", billed="5.25")], name="aws_2025-01_late.csv")
    assert result.status == "late" and f"booked in {FEB}" in result.message
    _validate(settings, FEB)
    with wh.connect(settings.warehouse_path) as con:
        assert _month_snapshot(con, JAN) == before  # the closed month does not change
        assert wh.period_status(con, JAN) == "closed" and wh.period_status(con, FEB) == "open"
        assert con.execute("SELECT count(*) FROM late_rows WHERE billing_month = ?", [JAN]).fetchall() == [(1,)]
        (line,) = con.execute(
            "SELECT c.billed_cost, c.charge_class, c.review_reasons, a.origin_month, a.origin_file, a.origin_row, "
            "a.kind, c.charge_period_start < TIMESTAMP '2025-02-01', c.billing_period_start "
            "FROM charges_validated c JOIN adjustment_lines a ON a.booked_month = c.billing_month "
            "AND a.source = c.source AND a.file_name = c.file_name AND a.file_row_number = c.file_row_number "
            "WHERE c.billing_month = ?", [FEB]).fetchall()
        assert line[:7] == (Decimal("5.25"), "Correction", ["late_for_closed_month"], JAN, "aws_2025-01_late.csv", 1,
                            "new")
        assert line[7] is True and str(line[8]).startswith("2025-02-01")
        charge_id = con.execute("SELECT charge_id FROM charges_validated WHERE billing_month = ?", [FEB]
                                ).fetchall()[0][0]
    # The desk's charge page (services.charge_detail) names what the line corrects.
    detail = charge_detail(AppContext(settings, "x"), FEB, charge_id)
    assert detail.adjustment["origin_month"] == JAN and detail.adjustment["origin_file"] == "aws_2025-01_late.csv"
    assert detail.lineage["adjusts_month"] == JAN and detail.reasons[0]["code"] == "late_for_closed_month"
    # The same late file again changes nothing (invariant 3).
    (again,) = _import(settings, [charge_row(resource="late-vm", billed="5.25")], name="aws_2025-01_late.csv")
    assert again.status == "unchanged"


def test_corrected_file_after_finalize_lowers_raises_and_removes(closed_january):
    settings = closed_january
    with wh.connect(settings.warehouse_path) as con:
        con.execute("INSERT INTO statements (billing_month, pi_email, project_id, statement_key, pdf_path, csv_path, "
                    "content_sha256, pdf_sha256, csv_sha256, line_count, list_total, discount_total, billed_total, "
                    "credits_total, discount_percent, currency, fund_orgs, references_1, references_2, generated_at, "
                    "generated_by) VALUES (?, 'pi.one@example.edu', 'proj-a', 'k', 'a.pdf', 'a.csv', 's', 's', 's', "
                    "2, 13.30, 0, 13.30, 0, 0, 'USD', [], [], [], now(), 'x')", [JAN])
        lc.finalize_period(con, JAN, "x")
        original = _billed(con, JAN)
    corrected = [charge_row(resource="a", billed="8.00"), charge_row(resource="c", billed="4.30")]
    (result,) = _import(settings, corrected)  # same file name: a corrected file
    assert result.status == "late"
    _validate(settings, FEB)
    with wh.connect(settings.warehouse_path) as con:
        assert wh.period_status(con, JAN) == "finalized"
        kinds = con.execute("SELECT kind, billed_delta FROM adjustment_lines ORDER BY kind").fetchall()
        assert kinds == [("changed", Decimal("-2")), ("new", Decimal("4.3")), ("removed", Decimal("-3.3"))]
        adjustments = _billed(con, FEB, "list_contains(review_reasons, 'late_for_closed_month')")
        assert original + adjustments == Decimal("12.30")  # what the provider finally billed


def test_late_credit_and_correction_rows_are_negative_adjustments(closed_january):
    settings = closed_january
    credit = charge_row(resource="a", billed="-2.50", ChargeCategory="Credit", ChargeDescription="refund")
    correction = charge_row(resource="b", billed="-1.10", ChargeClass="Correction",
                            ChargeDescription="provider correction of an earlier invoice")
    _import(settings, [credit, correction], name="aws_2025-01_credits.csv")
    _validate(settings, FEB)
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT charge_category, billed_cost, list_cost, charge_class FROM charges_validated "
                           "WHERE billing_month = ? ORDER BY billed_cost", [FEB]).fetchall() == [
            ("Credit", Decimal("-2.5"), Decimal("-2.5"), "Correction"),
            ("Usage", Decimal("-1.1"), Decimal("-1.1"), "Correction")]
        assert _billed(con, JAN) == Decimal("13.30")  # January as billed


def test_two_corrections_of_one_month_booked_in_two_later_months(closed_january):
    settings = closed_january
    _import(settings, [charge_row(resource="a", billed="12.00"), charge_row(resource="b", billed="3.30")])
    _validate(settings, FEB)
    _approve_all_and_close(settings, FEB)
    (second,) = _import(settings, [charge_row(resource="a", billed="11.00"), charge_row(resource="b", billed="3.00")])
    assert second.status == "late" and f"booked in {MAR}" in second.message
    _validate(settings, MAR)
    with wh.connect(settings.warehouse_path) as con:
        booked = con.execute("SELECT booked_month, origin_month, sum(billed_delta) FROM adjustment_lines "
                             "GROUP BY ALL ORDER BY booked_month").fetchall()
        assert booked == [(FEB, JAN, Decimal("2")), (MAR, JAN, Decimal("-1.3"))]
        total = _billed(con, JAN) + _billed(con, FEB) + _billed(con, MAR)
        assert total == Decimal("14.00")  # 11.00 + 3.00: the provider's last word on January


def test_a_second_version_while_the_booked_month_is_open_replaces_its_adjustments(closed_january):
    settings = closed_january
    _import(settings, [charge_row(resource="a", billed="12.00"), charge_row(resource="b", billed="3.30")])
    _import(settings, [charge_row(resource="a", billed="9.00"), charge_row(resource="b", billed="3.30")])
    _validate(settings, FEB)
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT kind, billed_delta FROM adjustment_lines").fetchall() == [
            ("changed", Decimal("-1"))]
        assert _billed(con, FEB) == Decimal("-1")
        assert con.execute("SELECT count(*) FROM late_imports").fetchall() == [(2,)]


def test_reopen_and_adjust_give_the_same_final_totals(settings):
    """The two paths for a restated month, each on its own warehouse: the same final total."""
    corrected = [charge_row(resource="a", billed="7.77"), charge_row(resource="b", billed="3.30"),
                 charge_row(resource="d", billed="1.01")]
    totals = {}
    base = settings
    for path in ("adjust", "reopen"):
        database = base.database.model_copy(update={"path": base.warehouse_path.with_name(f"{path}.duckdb")})
        settings = base.model_copy(update={"database": database})
        load_rows(settings, ORIGINAL, name=FILE)
        _approve_all_and_close(settings, JAN)
        if path == "reopen":  # the operator's explicit choice: January changes, its statements must be resent
            with wh.connect(settings.warehouse_path) as con:
                lc.reopen_period(con, JAN, "x", "the provider restated January before statements went out")
        (result,) = _import(settings, corrected)
        assert result.status == ("late" if path == "adjust" else "imported")
        _validate(settings, FEB if path == "adjust" else JAN)
        with wh.connect(settings.warehouse_path) as con:
            totals[path] = _billed(con, JAN) + _billed(con, FEB)
    assert totals == {"adjust": Decimal("12.08"), "reopen": Decimal("12.08")}


def test_a_file_adjusted_in_a_later_month_is_refused_in_its_reopened_month(closed_january):
    """Late, then reopen, then the same file into the month itself would bill its adjustments twice: refused, with
    the way on; the same content as the month holds is still `unchanged`, and after closing again it is adjusted."""
    settings = closed_january
    (late,) = _import(settings, [charge_row(resource="a", billed="12.00"), charge_row(resource="b", billed="3.30")])
    assert (late.status, late.booked_month) == ("late", FEB)
    with wh.connect(settings.warehouse_path) as con:
        lc.reopen_period(con, JAN, "x", "a wrong decision")
        before = _month_snapshot(con, JAN)
    restated = [charge_row(resource="a", billed="7.00"), charge_row(resource="b", billed="3.30")]
    with pytest.raises(ImportRefused) as refused:
        _import(settings, restated)
    assert str(refused.value).startswith(f"{FILE}: its earlier versions for {JAN} came after {JAN} was closed")
    assert f"booked as adjustments in {FEB}" in str(refused.value)
    assert "would bill those differences twice, so nothing was imported" in str(refused.value)
    with wh.connect(settings.warehouse_path) as con:
        assert _month_snapshot(con, JAN) == before
    (unchanged,) = _import(settings, ORIGINAL)  # what January holds already: nothing to bill twice
    assert unchanged.status == "unchanged"
    _approve_all_and_close(settings, JAN)
    (again,) = _import(settings, restated)
    assert (again.status, again.booked_month) == ("late", FEB)
    _validate(settings, FEB)
    with wh.connect(settings.warehouse_path) as con:
        assert _billed(con, JAN) + _billed(con, FEB) == Decimal("10.30")  # what the provider billed last
