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
from ocb_pipelines.core import warehouse as wh

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

    before = _digests(out)
    second = CliRunner().invoke(cli, ["demo", "--json"], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert {s for f in json.loads(second.stdout)["files"] for s in f["status"]} == {"unchanged"}
    assert _digests(out) == before
