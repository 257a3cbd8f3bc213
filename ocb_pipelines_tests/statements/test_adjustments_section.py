"""The section "Adjustments to earlier months": a statement's adjustment lines apart, with their origin and a subtotal
per origin month, still part of its total; in the PDF, the HTML and the CSV, and in the content hash."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pypdf

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.periods.lifecycle import close_period
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.statements import render
from ocb_pipelines.statements.adjustments import (
    AdjustmentLine,
    Origin,
    by_origin_month,
    month_origins,
    shown_months,
)
from ocb_pipelines.statements.generate import Renderer, current_statements, generate_statements
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.statements.late_months import LATE_FILE, build_month, build_three_months

MONTH = "2025-03"


def _statements(settings):
    renderer = Renderer.from_settings(settings)
    with wh.connect(settings.warehouse_path) as con:
        return renderer, {s.project_id: s for s in current_statements(con, MONTH, renderer)}


def test_adjustment_lines_are_listed_apart_with_origin_and_a_subtotal_per_origin_month(settings):
    build_three_months(settings)
    with wh.connect(settings.warehouse_path) as con:
        charge_ids = dict(con.execute("SELECT file_row_number, charge_id FROM charges_approved "
                                      "WHERE billing_month = '2025-01' AND file_name = 'aws_2025-01.csv'").fetchall())
    renderer, statements = _statements(settings)
    a = statements["proj-a"]
    assert [(x.origin.origin_month, x.origin.origin_file, x.origin.origin_row, x.origin.corrects_charge_id,
             x.origin.kind, x.billed_total) for x in a.adjustments] == [
        ("2025-01", "aws_2025-01.csv", 1, charge_ids[1], "changed", Decimal("12.50")),
        ("2025-01", "aws_2025-01.csv", 2, charge_ids[2], "removed", Decimal("-5.00")),
        ("2025-02", "aws_2025-02.csv", 4, "new-in-2025-02-row-4", "new", Decimal("3.00")),
    ]
    groups = by_origin_month(a.adjustments)
    assert [(g.origin_month, len(g.lines), g.billed_total) for g in groups] == [
        ("2025-01", 2, Decimal("7.50")), ("2025-02", 1, Decimal("3.00"))]
    assert a.billed_total == Decimal("80.50")  # 70.00 of March and 10.50 of adjustments: the total includes them
    assert statements["proj-b"].adjustments == []

    html = render.statement_html(renderer.env, a, renderer.ctx, csv_name="a.csv", generated_at=datetime(2025, 4, 1))
    section = html[html.index("Adjustments to earlier months"):html.index("Largest resources")]
    assert "These\n  3 lines ($10.50) are included" in section
    assert f"aws_2025-01.csv · row 1</td><td class=\"id\">{charge_ids[1]}</td>" in section
    assert "corrected amount" in section and "removed charge" in section and "late charge" in section
    assert "Subtotal 2025-01 (2 lines)" in section and "$7.50" in section and "-$5.00" in section
    assert "Subtotal 2025-02 (1 line)" in section and "All adjustments" in section
    other = render.statement_html(renderer.env, statements["proj-b"], renderer.ctx, csv_name="b.csv",
                                  generated_at=datetime(2025, 4, 1))
    assert "Adjustments to earlier months" not in other


def test_the_pdf_and_csv_name_each_adjustments_origin(settings):
    build_three_months(settings)
    with wh.connect(settings.warehouse_path) as con:
        result = generate_statements(con, settings, MONTH, workers=1)
    outcome = next(o for o in result.outcomes if o.statement.project_id == "proj-a")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(outcome.pdf_path.read_bytes())).pages)
    assert "Adjustments to earlier months" in text and "Subtotal 2025-01 (2 lines)" in text
    rows = list(csv.DictReader(io.StringIO(outcome.csv_path.read_text(encoding="utf-8-sig"))))
    late = sorted((r for r in rows if r["file_name"] == LATE_FILE), key=lambda r: int(r["file_row_number"]))
    assert [(r["adjusts_month"], r["origin_file"], r["origin_row"], r["adjustment_kind"]) for r in late] == [
        ("2025-01", "aws_2025-01.csv", "1", "changed"), ("2025-01", "aws_2025-01.csv", "2", "removed"),
        ("2025-02", "aws_2025-02.csv", "4", "new")]
    assert all(r["corrects_charge_id"] for r in late)
    ordinary = [r for r in rows if r["file_name"] != LATE_FILE]
    assert len(ordinary) == 1 and not any(ordinary[0][c] for c in ("adjusts_month", "origin_file", "origin_row"))
    assert sum(Decimal(r["billed_cost"]) for r in rows) == outcome.statement.billed_total


def test_a_changed_origin_re_renders_the_statement_that_shows_it(settings):
    build_three_months(settings)
    with wh.connect(settings.warehouse_path) as con:
        first = {o.statement.project_id: o for o in generate_statements(con, settings, MONTH, workers=1).outcomes}
        con.execute("UPDATE adjustment_lines SET origin_row = 7 WHERE origin_row = 4")
        again = {o.statement.project_id: o for o in generate_statements(con, settings, MONTH, workers=1).outcomes}
    assert again["proj-a"].status == "rendered" and again["proj-b"].status == "unchanged"
    assert again["proj-a"].statement.content_sha256 != first["proj-a"].statement.content_sha256


def test_without_adjustments_or_without_the_table_there_is_no_section(settings):
    build_three_months(settings, adjustments=False)
    renderer, statements = _statements(settings)
    assert all(s.adjustments == [] for s in statements.values())
    html = render.statement_html(renderer.env, statements["proj-a"], renderer.ctx, csv_name="a.csv",
                                 generated_at=datetime(2025, 4, 1))
    assert "Adjustments to earlier months" not in html
    with wh.connect(settings.warehouse_path) as con:
        con.execute("DROP TABLE IF EXISTS adjustment_lines")  # a warehouse from before late data
        assert month_origins(con, MONTH) == {}


def test_the_pdf_prints_a_bounded_number_of_lines_and_every_subtotal_counts_them_all():
    lines = [AdjustmentLine(f"c{i}", "", Decimal(1), Decimal(1), Origin(month, "late.csv", i, f"x{i}", "changed"))
             for month in ("2025-01", "2025-02") for i in range(3)]
    shown = shown_months(lines, limit=4)
    assert [(g.month.origin_month, len(g.shown), g.hidden, g.month.billed_total) for g in shown] == [
        ("2025-01", 3, 0, Decimal(3)), ("2025-02", 1, 2, Decimal(3))]


def test_a_late_file_for_a_closed_month_shows_on_the_next_months_statement(settings):
    """The real flow (ingest/late.py): January closed, a corrected January file arrives while February is open;
    its differences are booked in February, approved, and February's statement lists them apart."""
    jan = [charge_row("2025-01", resource="vm-a", billed="80.00", ListCost="100.00"),
           charge_row("2025-01", resource="vm-b", billed="20.00", ListCost="20.00")]
    with wh.connect(settings.warehouse_path) as con:
        build_month(con, settings, "2025-01", {"aws_2025-01.csv": jan})
        build_month(con, settings, "2025-02", {"aws_2025-02.csv": [charge_row("2025-02", billed="50.00")]},
                    close=False)
        corrected = [charge_row("2025-01", resource="vm-a", billed="92.50", ListCost="100.00")]  # vm-b removed
        path = write_focus_csv(settings.inbox_dir / "aws_2025-01.csv", corrected)  # the same file, corrected
        [result] = import_file(con, path, months=["2025-01"], source="aws")
        assert result.status == "late"
        build_validated(con, "2025-02", rules_from(settings))
        flagged = [c for (c,) in con.execute("SELECT charge_id FROM charges_validated WHERE billing_month = "
                                             "'2025-02' AND needs_review").fetchall()]
        rd.record_decisions(con, "2025-02", [rd.Decision(c, "approve", "late data checked") for c in flagged],
                            actor="tester", via="cli")
        build_approved(con, "2025-02")
        close_period(con, "2025-02", "tester")
        january = dict(con.execute("SELECT resource_id, charge_id FROM charges_approved "
                                   "WHERE billing_month = '2025-01'").fetchall())
    renderer, _ = _statements(settings)
    with wh.connect(settings.warehouse_path) as con:
        [statement] = current_statements(con, "2025-02", renderer)
    assert len(flagged) == 2
    assert sorted((a.origin.origin_month, a.origin.corrects_charge_id, a.origin.kind, a.billed_total)
                  for a in statement.adjustments) == sorted([
        ("2025-01", january["vm-a"], "changed", Decimal("12.50")),
        ("2025-01", january["vm-b"], "removed", Decimal("-20.00"))])
    [group] = by_origin_month(statement.adjustments)
    assert group.billed_total == Decimal("-7.50")
    assert statement.billed_total == Decimal("42.50")  # February's 50.00 and the adjustments' -7.50
    # What January billed plus its adjustments is what the provider finally billed for January.
    assert Decimal("100.00") + group.billed_total == Decimal("92.50")
