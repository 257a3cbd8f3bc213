"""Statements: aggregation, the gate, PDF text, CSV, naming, incremental rendering, period rules, the asset."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from pypdf import PdfReader

from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.periods.lifecycle import PeriodTransitionError, finalize_period, reopen_period
from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.statements import naming, render
from ocb_pipelines.statements.generate import StatementPeriodError, generate_statements
from ocb_pipelines.statements.lines import NO_PROJECT, fund_percentages, load_statements
from ocb_pipelines.statements.schemas import StatementGateError, gate_statements
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, load_month, make_settings, month_rows


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def _by_project(result):
    return {o.statement.project_id: o for o in result.outcomes}


def test_lines_aggregate_discounts_credits_and_fund_shares(closed_month):
    with wh.connect(closed_month.warehouse_path) as con:
        statements = {s.project_id: s for s in load_statements(con, MONTH)}
    a = statements["proj-a"]
    assert a.billed_total == Decimal("94.5") and a.list_total == Decimal("114.5")  # NULL list = billed
    assert a.discount_total == Decimal(20) and a.discount_percent == Decimal("17.5")
    assert a.credits_total == Decimal("-5.5") and a.credit_lines == 1
    assert [(f.fund_org, f.billed_total, f.percent) for f in a.funds] == [
        ("ABC-123456", Decimal("74.5"), Decimal("78.84")), ("XYZ-654321", Decimal("20"), Decimal("21.16"))]
    b = statements["proj-b"]
    assert b.billed_total == 0 and b.discount_percent == 100  # a 100% subsidy


def test_fund_percentages_always_add_up_to_100():
    for amounts in ([Decimal(1)] * 3, [Decimal(1), Decimal(2)], [Decimal(5), Decimal(-5)], [Decimal(0)] * 2,
                    [Decimal("0.01"), Decimal("1000000")]):
        assert sum(fund_percentages(amounts)) == 100
    assert fund_percentages([Decimal(1)] * 3) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]


def test_pdf_shows_totals_discount_fund_shares_and_currency(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, monkeypatch, "\n")
    settings = settings.model_copy(update={"currency": settings.currency.model_copy(
        update={"code": "EUR", "symbol": "€"})})
    load_month(settings, [{**r, "BillingCurrency": "EUR"} for r in month_rows()])
    with wh.connect(settings.warehouse_path) as con:
        result = generate_statements(con, settings, MONTH, workers=1)
    text = _pdf_text(_by_project(result)["proj-a"].pdf_path)
    for expected in ("Research Computing Billing", "1 Example Way", "rc-billing@example.edu", "January 2025",
                     "pi.one@example.edu", "proj-a", "ABC-123456 (78.84%)", "XYZ-654321 (21.16%)", "€114.50",
                     "-€20.00", "€94.50", "17.5%", "-€5.50", "EUR", "Compute Engine", "Cloud Storage"):
        assert expected in text, expected
    assert "$" not in text
    subsidy = _pdf_text(_by_project(result)["proj-b"].pdf_path)
    assert "€800.00" in subsidy and "€0.00" in subsidy and "100.0%" in subsidy


def test_csv_has_every_line_exact_and_neutralised(closed_month):
    load_month(closed_month, [charge_row("2025-02", resource="=HYPERLINK(\"x\")", billed="1.234567",
                                         pi_email="p3@example.edu", project_id="+cmd", fund_org="ABC-123456")],
               month="2025-02")
    with wh.connect(closed_month.warehouse_path) as con:
        result = generate_statements(con, closed_month, "2025-02", workers=1)
    (outcome,) = result.outcomes
    rows = list(csv.DictReader(io.StringIO(outcome.csv_path.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 1
    assert rows[0]["resource_id"] == "'=HYPERLINK(\"x\")" and rows[0]["project_id"] == "'+cmd"
    assert rows[0]["billed_cost"] == "1.234567" and rows[0]["file_name"] == "aws_2025-02.csv"


def test_generate_records_statements_and_finalize_then_works(closed_month):
    with wh.connect(closed_month.warehouse_path) as con:
        with pytest.raises(PeriodTransitionError, match="generate statements first"):
            finalize_period(con, MONTH, "tester")
        result = generate_statements(con, closed_month, MONTH, workers=1)
        rows = con.execute("SELECT pi_email, project_id, billed_total, content_sha256, pdf_sha256 FROM statements "
                           "WHERE billing_month = ? ORDER BY 1", [MONTH]).fetchall()
        approved = con.execute("SELECT sum(billed_cost) FROM charges_approved WHERE billing_month = ?",
                               [MONTH]).fetchall()[0][0]
        assert sum(r[2] for r in rows) == approved
        assert finalize_period(con, MONTH, "tester").status == "finalized"
        with pytest.raises(StatementPeriodError, match="finalized"):
            generate_statements(con, closed_month, MONTH, workers=1)
    assert result.count("rendered") == 2 and [r[1] for r in rows] == ["proj-a", "proj-b"]
    for o in result.outcomes:
        assert o.pdf_path.read_bytes().startswith(b"%PDF") and render.file_sha256(o.pdf_path) == o.pdf_sha256


def test_open_month_or_pending_charges_are_refused(settings):
    load_month(settings, month_rows(), close=False)
    with wh.connect(settings.warehouse_path) as con, pytest.raises(StatementPeriodError, match="close it first"):
        generate_statements(con, settings, MONTH, workers=1)
    load_month(settings, [*month_rows(), charge_row(MONTH, resource="x", project_id=None)], close=False)
    with wh.connect(settings.warehouse_path) as con, pytest.raises(StatementPeriodError, match="pending review"):
        generate_statements(con, settings, MONTH, workers=1)


def test_incremental_rendering_and_removal(closed_month):
    with wh.connect(closed_month.warehouse_path) as con:
        first = generate_statements(con, closed_month, MONTH, workers=1)
        second = generate_statements(con, closed_month, MONTH, workers=1)
        assert (second.count("rendered"), second.count("unchanged")) == (0, 2)
        _by_project(second)["proj-b"].pdf_path.unlink()  # a missing file is re-rendered
        third = generate_statements(con, closed_month, MONTH, workers=1)
        assert (third.count("rendered"), third.count("unchanged")) == (1, 1)
        reopen_period(con, MONTH, "tester", "late correction")
    # proj-b disappears (its PI's charges are moved to proj-a): its statement and files are removed
    load_month(closed_month, [r for r in month_rows() if r["ResourceId"] != "hpc-1"])
    with wh.connect(closed_month.warehouse_path) as con:
        fourth = generate_statements(con, closed_month, MONTH, workers=1)
        assert con.execute("SELECT count(*) FROM statements WHERE billing_month = ?", [MONTH]).fetchall() == [(1,)]
    assert [r["project_id"] for r in fourth.removed] == ["proj-b"]
    assert not _by_project(first)["proj-b"].pdf_path.exists()
    assert fourth.count("rendered") == 1  # proj-a: same amounts, but a new source file sha256 (lineage in the CSV)


def test_template_override_changes_the_hash_and_escapes_values(closed_month):
    folder = closed_month.config_path.parent / "templates"
    folder.mkdir()
    source = (render.DEFAULT_TEMPLATE_DIR / "statement.html").read_text(encoding="utf-8")
    (folder / "statement.html").write_text(source.replace("Research Computing Statement", "Custom Statement"),
                                           encoding="utf-8")
    with wh.connect(closed_month.warehouse_path) as con:
        result = generate_statements(con, closed_month, MONTH, workers=1)
    assert "Custom Statement" in _pdf_text(result.outcomes[0].pdf_path)
    env = render.make_env(render.template_dirs(closed_month.config_path), "$")
    statement = result.outcomes[0].statement
    statement.project_id = "<script>alert(1)</script>"
    html = render.statement_html(env, statement, render.context_from(closed_month), csv_name="x.csv",
                                 generated_at=wh.now_utc())
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_gate_refuses_totals_that_do_not_match_and_missing_pi(closed_month):
    with wh.connect(closed_month.warehouse_path) as con:
        statements = load_statements(con, MONTH)
    approved = {(s.pi_email, s.project_id): s.billed_total for s in statements}
    total = sum(approved.values())
    assert gate_statements(statements, approved, total) == []
    wrong = dict(approved)
    wrong[("pi.one@example.edu", "proj-a")] += Decimal("0.01")
    assert any("differs from the approved charges" in p for p in gate_statements(statements, wrong, total))
    assert any("approved charges" in p for p in gate_statements(statements, approved, total + 1))
    statements[0].pi_email = None
    assert any("column pi_email, value None" in p for p in gate_statements(statements, approved, total))


def test_approved_charge_without_pi_stops_rendering(closed_month):
    with wh.connect(closed_month.warehouse_path) as con:
        con.execute("UPDATE charges_approved SET pi_email = NULL WHERE resource_id = 'hpc-1'")
        with pytest.raises(StatementGateError, match="column pi_email, value None"):
            generate_statements(con, closed_month, MONTH, workers=1)
        assert con.execute("SELECT count(*) FROM statements").fetchall() == [(0,)]


@pytest.mark.parametrize("pi, project", [
    ("../../etc/passwd", "../x"), ("/etc/passwd", "/abs/path"), ("a\x00b@example.edu", "nul\x00proj"),
    ("x" * 5000 + "@example.edu", "p" * 5000), ("研究者@example.edu", "プロジェクト"), ("..", "."), ("", ""),
])  # fmt: skip
def test_unsafe_names_stay_inside_the_output_folder(tmp_path, pi, project):
    pdf, csv_path = naming.statement_paths(tmp_path, MONTH, pi, project)
    for path in (pdf, csv_path):
        assert path.parent == (tmp_path / MONTH).resolve()
        assert len(path.name) < 140 and "\x00" not in path.name and "/" not in path.name
        assert path.name.startswith(f"{MONTH}_")


def test_names_that_slugify_the_same_do_not_collide(tmp_path):
    a = naming.statement_paths(tmp_path, MONTH, "Ada.Lovelace@example.edu", "proj")
    b = naming.statement_paths(tmp_path, MONTH, "ada-lovelace@example.edu", "proj")
    c = naming.statement_paths(tmp_path, MONTH, "ada.lovelace@example.edu", "PROJ")
    assert len({a[0], b[0], c[0]}) == 3
    assert naming.slugify("Ada.Lovelace@example.edu") == naming.slugify("ada-lovelace@example.edu")
    with pytest.raises(naming.UnsafePathError):
        naming.contained(tmp_path, "../escape.pdf")
    with pytest.raises(PeriodTransitionError):
        naming.statement_paths(tmp_path, "../2025-01", "a", "b")


def test_unsafe_values_end_to_end_and_parallel_rendering(settings):
    rows = [charge_row(MONTH, resource=f"r{i}", billed="1.00", pi_email=f"pi{i % 3}@example.edu",
                       project_id=["../../evil", "/abs", "ok", "tab\tname", "ünïcode"][i % 5]) for i in range(10)]
    load_month(settings, rows)
    with wh.connect(settings.warehouse_path) as con:
        result = generate_statements(con, settings, MONTH, workers=2)  # enough statements for the pool
    folder = (settings.output.pdf_dir / MONTH).resolve()
    assert len(result.outcomes) >= render.POOL_THRESHOLD
    assert all(o.pdf_path.parent == folder and o.pdf_path.is_file() for o in result.outcomes)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [o.pdf_path.name for o in result.outcomes] + [o.csv_path.name for o in result.outcomes])


def test_statements_asset_metadata_and_blocking_gate(closed_month):
    defs = build_definitions(closed_month.config_path)
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("statements_job")
    with dg.instance_for_test() as instance:
        first = job.execute_in_process(partition_key=MONTH, instance=instance,
                                       run_config={"ops": {"statements": {"config": {"workers": 1}}}})
        second = job.execute_in_process(partition_key=MONTH, instance=instance)
    meta = first.asset_materializations_for_node("statements")[0].metadata  # the job stores pi_history too
    assert meta["rendered"].value == 2 and meta["unchanged"].value == 0 and meta["removed"].value == 0
    assert meta["billed_total_cents"].value == 9450
    again = second.asset_materializations_for_node("statements")[0].metadata
    assert again["rendered"].value == 0 and again["unchanged"].value == 2
    assert [(c.check_name, c.passed) for c in first.get_asset_check_evaluations()] == [("pi_history_gate", True),
                                                                                       ("statements_gate", True)]


def test_statements_asset_refuses_an_open_month(settings):
    load_month(settings, month_rows(), close=False)
    job = build_definitions(settings.config_path).resolve_job_def("statements_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key=MONTH, instance=instance, raise_on_error=False)
    assert not result.success
    assert [(c.check_name, c.passed) for c in result.get_asset_check_evaluations()] == [("pi_history_gate", True),
                                                                                        ("statements_gate", False)]
    assert NO_PROJECT  # the placeholder for charges approved without a project exists
