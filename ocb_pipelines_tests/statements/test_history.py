"""A PI's months side by side: the history query, and the last 6 months printed on each statement."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pypdf

from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.statements import render
from ocb_pipelines.statements.generate import Renderer, current_statements, generate_statements
from ocb_pipelines.statements.pi_history import HistoryMonth, history_bars, load_history, statement_history
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.statements.late_months import build_month, build_three_months


def _money(rows):
    return [(r.month, r.pi_email, r.project_id, r.billed_total, r.list_total, r.subsidy_total, r.lines, r.gap)
            for r in rows]


def test_only_months_the_warehouse_has_count_and_a_month_without_charges_after_some_is_a_gap(settings):
    build_three_months(settings)
    with wh.connect(settings.warehouse_path) as con:
        history = load_history(con, "2025-03")  # 12 months: 2024-04 .. 2025-03, of which three exist
    assert history.first == "2024-04" and history.months == ("2025-01", "2025-02", "2025-03")
    assert _money(history.rows) == [
        # bucket has no list price: its list is its billed amount (as on statements)
        ("2025-01", "pi.one@example.edu", "proj-a", Decimal("100"), Decimal("120"), Decimal("20"), 2, False),
        ("2025-02", "pi.one@example.edu", "proj-a", Decimal("90"), Decimal("100"), Decimal("10"), 1, False),
        # its own 70.00 and three adjustment lines (+12.50, -5.00, +3.00): what March billed
        ("2025-03", "pi.one@example.edu", "proj-a", Decimal("80.5"), Decimal("110.5"), Decimal("30"), 4, False),
        ("2025-01", "pi.two@example.edu", "proj-b", Decimal("0"), Decimal("800"), Decimal("800"), 1, False),
        ("2025-02", "pi.two@example.edu", "proj-b", Decimal("0"), Decimal("0"), Decimal("0"), 0, True),
        ("2025-03", "pi.two@example.edu", "proj-b", Decimal("10"), Decimal("50"), Decimal("40"), 1, False),
    ]
    assert all(isinstance(r.billed_total, Decimal) and isinstance(r.list_total, Decimal) for r in history.rows)
    totals = {t["month"]: t for t in history.month_totals()}
    assert totals["2025-02"]["gaps"] == 1 and totals["2025-02"]["pis"] == 1
    assert totals["2025-03"]["billed"] == Decimal("90.5") and totals["2025-03"]["subsidy"] == Decimal("70")



def test_one_pis_history_is_theirs_alone_matched_in_any_case_with_the_same_months_and_gaps(settings):
    build_three_months(settings)
    with wh.connect(settings.warehouse_path) as con:
        every = load_history(con, "2025-03")
        two = load_history(con, "2025-03", pi=" PI.Two@Example.edu ")  # the desk's PI page
    assert two.months == every.months  # the window is the warehouse's, not the PI's
    assert _money(two.rows) == [r for r in _money(every.rows) if r[1] == "pi.two@example.edu"]
    assert [r.gap for r in two.rows] == [False, True, False]


def test_the_window_ends_at_the_month_and_a_gap_needs_charges_earlier_in_it(settings):
    build_three_months(settings)
    with wh.connect(settings.warehouse_path) as con:
        build_month(con, settings, "2024-03", {"aws_2024-03.csv": [charge_row("2024-03")]})  # 13 months before
        twelve = load_history(con, "2025-03")
        two = statement_history(con, "2025-03", months=2)
        february = load_history(con, "2025-02", 6)
    assert "2024-03" not in twelve.months and twelve.months[0] == "2025-01"
    # Over 2025-02 .. 2025-03, proj-b had no charges before March: February is no gap of its, it is not shown.
    assert [r.month for r in two[("pi.two@example.edu", "proj-b")]] == ["2025-03"]
    assert [r.month for r in two[("pi.one@example.edu", "proj-a")]] == ["2025-02", "2025-03"]
    assert february.months == ("2025-01", "2025-02") and all(r.month <= "2025-02" for r in february.rows)


def test_each_statement_prints_its_last_months_with_gaps_as_no_charges(settings):
    build_three_months(settings)
    renderer = Renderer.from_settings(settings)
    with wh.connect(settings.warehouse_path) as con:
        statements = {s.project_id: s for s in current_statements(con, "2025-03", renderer)}
    proj_b = statements["proj-b"]
    assert [(h.month, h.gap) for h in proj_b.history] == [("2025-01", False), ("2025-02", True), ("2025-03", False)]
    html = render.statement_html(renderer.env, proj_b, renderer.ctx, csv_name="b.csv",
                                 generated_at=datetime(2025, 4, 1))
    assert "Your last 3 months (proj-b)" in html and "no charges" in html
    assert "Jan 2025" in html and "$800.00" in html and "-$800.00" in html  # list and a 100% subsidy
    a = statements["proj-a"]
    assert [h.billed_total for h in a.history] == [Decimal("100"), Decimal("90"), Decimal("80.5")]


def test_the_pdf_shows_the_history_table(settings):
    build_three_months(settings)
    with wh.connect(settings.warehouse_path) as con:
        result = generate_statements(con, settings, "2025-03", workers=1)
    pdf = next(o.pdf_path for o in result.outcomes if o.statement.project_id == "proj-b")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert "Your last 3 months" in text and "Feb 2025" in text and "no charges" in text


def test_a_changed_history_re_renders_only_the_statements_it_changes(settings):
    """A month brought in later (here 2024-12, for proj-b only) changes proj-b's history, so its March statement
    gets a new content hash and is rendered again; proj-a's is left as it was."""
    build_three_months(settings)
    with wh.connect(settings.warehouse_path) as con:
        first = {o.statement.project_id: o for o in generate_statements(con, settings, "2025-03", workers=1).outcomes}
        build_month(con, settings, "2024-12", {"aws_2024-12.csv": [  # proj-b only
            charge_row("2024-12", resource="hpc-1", billed="4.00", ListCost="8.00", service="HPC Cluster",
                       pi_email="pi.two@example.edu", project_id="proj-b")]})
        again = {o.statement.project_id: o for o in generate_statements(con, settings, "2025-03", workers=1).outcomes}
    assert again["proj-a"].status == "unchanged"
    assert again["proj-b"].status == "rendered"
    assert again["proj-b"].statement.content_sha256 != first["proj-b"].statement.content_sha256
    assert [h.month for h in again["proj-b"].statement.history] == ["2024-12", "2025-01", "2025-02", "2025-03"]


def test_bars_are_whole_percent_of_the_largest_list_price():
    rows = [HistoryMonth("2025-01", "p", "x", Decimal("50"), Decimal("200"), 1, False),
            HistoryMonth("2025-02", "p", "x", Decimal("0"), Decimal("0"), 0, True),
            HistoryMonth("2025-03", "p", "x", Decimal("-10"), Decimal("-10"), 1, False)]
    bars = history_bars(rows, "2025-03")
    assert [(b.label, b.billed_percent, b.subsidy_percent, b.current) for b in bars] == [
        ("Jan 2025", 25, 75, False), ("Feb 2025", 0, 0, False), ("Mar 2025", 0, 0, True)]
