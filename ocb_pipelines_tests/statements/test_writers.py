"""Statement formats are a list of writers: registering one more writer is the whole change for a new format."""

from __future__ import annotations

import json

import pytest

from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.statements import writers
from ocb_pipelines.statements.generate import generate_statements, month_statement_rows
from ocb_pipelines.statements.lines import Statement
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH


def _json_write(statement: Statement, page: writers.Page) -> bytes:
    """A JSON statement: the totals, exact (Decimal as text), and the sibling PDF's name."""
    return json.dumps({"pi": statement.pi_email, "project": statement.project_id,
                       "billed": str(statement.billed_total), "pdf": page.file_names["pdf"]}).encode()


JSON_WRITER = writers.StatementWriter(name="json", suffix=".json", mime="application/json", write=_json_write)


@pytest.fixture
def with_json(monkeypatch):
    monkeypatch.setattr(writers, "WRITERS", [*writers.WRITERS, JSON_WRITER])


def test_pdf_and_csv_are_the_registered_writers():
    assert [(w.name, w.suffix, w.mime) for w in writers.WRITERS] == [
        ("pdf", ".pdf", "application/pdf"), ("csv", ".csv", "text/csv")]


def test_an_extra_writer_is_rendered_recorded_listed_and_attached(closed_month, with_json):
    with wh.connect(closed_month.warehouse_path) as con:
        result = generate_statements(con, closed_month, MONTH, workers=1)
        rows = month_statement_rows(con, MONTH)
        emails = deliver_month(con, closed_month, MONTH, dry_run=True).items
    assert len(result.outcomes) == 2
    for outcome in result.outcomes:
        made = outcome.files["json"]
        body = json.loads(made.path.read_bytes())
        assert body["billed"] == str(outcome.statement.billed_total) and body["pdf"] == outcome.pdf_path.name
        assert made.path.with_suffix("") == outcome.pdf_path.with_suffix("")  # same name, its own suffix
    assert all(o["files"]["json"] for o in result.as_dict()["statements"])
    assert [[f["format"] for f in r["files"]] for r in rows] == [["pdf", "csv", "json"]] * 2
    assert all(sum(a["name"].endswith(".json") for a in e["attachments"]) == 1 for e in emails)

    with wh.connect(closed_month.warehouse_path) as con:  # unchanged next time, unless its file goes missing
        result.outcomes[0].files["json"].path.unlink()
        again = generate_statements(con, closed_month, MONTH, workers=1)
    assert sorted(o.status for o in again.outcomes) == ["rendered", "unchanged"]


def test_a_writer_added_later_renders_the_statements_that_lack_its_file(closed_month, monkeypatch):
    with wh.connect(closed_month.warehouse_path) as con:
        generate_statements(con, closed_month, MONTH, workers=1)
        monkeypatch.setattr(writers, "WRITERS", [*writers.WRITERS, JSON_WRITER])
        again = generate_statements(con, closed_month, MONTH, workers=1)
    assert [o.status for o in again.outcomes] == ["rendered", "rendered"]
    assert all(o.files["json"].path.is_file() for o in again.outcomes)


def test_statements_recorded_before_statement_files_keep_their_pdf_and_csv(closed_month):
    """A warehouse written before formats were writers: ensure_tables copies its PDF/CSV columns once."""
    with wh.connect(closed_month.warehouse_path) as con:
        generate_statements(con, closed_month, MONTH, workers=1)
        con.execute("DELETE FROM statement_files")
        rows = month_statement_rows(con, MONTH)
        again = generate_statements(con, closed_month, MONTH, workers=1)
    assert [[f["format"] for f in r["files"]] for r in rows] == [["pdf", "csv"]] * 2
    assert [o.status for o in again.outcomes] == ["unchanged", "unchanged"]
