"""`ocb demo` (the README's first command) runs the sample month end to end, and again changes nothing."""

import email
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from ocb_pipelines.cli.main import cli
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.reliability.reconciliation import assert_reconciled, month_figures

REPO = Path(__file__).resolve().parents[2]


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.example.yaml")
    shutil.copytree(REPO / "data" / "samples", tmp_path / "data" / "samples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OCB_CONFIG", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("OCB_ACTOR", "demo-tester")
    return tmp_path


def test_demo_runs_the_month_end_and_is_idempotent(project):
    first = CliRunner().invoke(cli, ["demo", "--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (project / "config.yaml").exists()
    assert summary["ok"] and summary["periods"] == ["2025-01", "2025-02"] and summary["rows"] == 960
    assert [m["status"] for m in summary["month_end"]] == ["closed", "closed"]

    out = project / "data" / "output"
    pdfs = sorted((out / "statements" / "2025-01").glob("*.pdf"))
    assert pdfs and len(pdfs) == len(list((out / "statements" / "2025-01").glob("*.csv")))
    text = "".join(page.extract_text() for page in PdfReader(pdfs[0]).pages)
    assert "Research Computing Statement" in text and "$" in text and "2025-01" in text
    emails = sorted((out / "outbox").rglob("*.eml"))
    assert emails
    message = email.message_from_bytes(emails[0].read_bytes())
    assert message["To"].endswith(("@example.edu", "@example.org"))
    assert any(part.get_filename(" ").endswith(".pdf") for part in message.walk())
    journals = sorted((out / "journals").glob("journal_gl_*.csv"))
    assert [j.name for j in journals] == ["journal_gl_2025-01.csv", "journal_gl_2025-02.csv"]

    with wh.connect(project / "data" / "warehouse.duckdb") as con:
        for month in ("2025-01", "2025-02"):
            validated, approved = con.execute(
                """SELECT (SELECT sum(billed_cost) FROM charges_validated WHERE billing_month = $m),
                          (SELECT sum(billed_cost) FROM charges_approved WHERE billing_month = $m)""",
                {"m": month}).fetchall()[0]
            assert approved is not None and approved <= validated
        actors = {a for (a,) in con.execute("SELECT DISTINCT actor FROM audit_events").fetchall()}
    assert actors == {"demo-tester"}
    assert (project / "data" / "dagster_home" / "dagster.yaml").exists()
    assert_reconciled(project / "data" / "warehouse.duckdb")

    before = _digests(out)
    second = CliRunner().invoke(cli, ["demo", "--json"], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert {s for f in json.loads(second.stdout)["files"] for s in f["status"]} == {"unchanged"}
    assert _digests(out) == before


def test_every_step_of_the_demo_month_end_reconciles_to_the_cent(project):
    """The demo's steps one by one (import, decisions, close, statements and emails, journal, finalize): after
    each, every month holds imported = approved + pending + rejected to the cent, and the close shows the
    figures it was checked on."""
    from ocb_pipelines.core.config import load_config
    from ocb_pipelines.review import decisions as rd
    from ocb_pipelines.review.sample_decisions import demo_decisions

    shutil.copy(project / "config.example.yaml", project / "config.yaml")
    db = project / "data" / "warehouse.duckdb"

    def ocb(*args):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert_reconciled(db)
        return result

    samples = [str(p) for p in sorted((project / "data" / "samples").glob("*"))
               if p.suffix in (".csv", ".gz", ".parquet")]
    ocb("ingest", *samples, "--init")
    settings = load_config(project / "config.yaml")
    for month in ("2025-01", "2025-02"):
        with wh.connect(db) as con:
            decisions = demo_decisions(rd.charge_states(con, month), settings.review.fund_org_patterns)
            rd.record_decisions(con, month, decisions, actor="demo-tester", via="cli",
                                fund_org_patterns=settings.review.fund_org_patterns)
        assert_reconciled(db)
        closed = json.loads(ocb("periods", "close", month, "--json").stdout)
        figures = month_figures(db)[month][1]
        assert closed["reconciliation"]["balanced"] and figures.balanced
        assert str(closed["reconciliation"]["imported_billed"]) == str(figures.imported_billed)
        ocb("generate", "-p", month, "--send")
        ocb("export-journal", "-p", month)
        ocb("periods", "finalize", month)
    assert {status for status, _ in month_figures(db).values()} == {"finalized"}


def test_the_demo_ends_with_the_commands_of_the_dagster_ui_and_the_review_desk(settings):
    """The operator's console and the page for the people who decide, side by side, as getting-started shows."""
    from ocb_pipelines.cli.demo import where_to_look

    lines = where_to_look(settings, {"dagster_home": "/x/dagster_home", "periods": ["2025-01", "2025-02"]})
    dagster = next(i for i, line in enumerate(lines) if "ocb ui" in line)
    assert lines[dagster + 1] == ("Review desk:  ocb users add NAME --role admin, then  ocb serve   "
                                  "(then http://127.0.0.1:8000)")
    assert lines[-1] == "Audit trail of the month:  ocb audit -p 2025-01"
    shown = (REPO / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert "\n".join(lines[dagster:]) in shown
