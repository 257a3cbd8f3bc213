"""Hostile values from billing files flow through the whole month end and do no harm, yet still display.

Tag values (project_id) and resource ids carry `../`, absolute paths, HTML and `<script>`, spreadsheet
formulas (= + - @, tab and CR first), a 100,000-character string, right-to-left override and emoji. They go
through import -> review sheet -> approval -> statements (PDF read back with pypdf, CSV) -> email (the
outbox .eml, its HTML part) -> GL journal. Asserted: no file is written outside the output folders, no
markup reaches the email HTML unescaped, no CSV cell we write starts a formula, and the values still show.

Unit-level cases live beside their modules (statements/test_statements.py for names, review/test_sheets.py
for sheet neutralising, ledger/test_csv_safety.py for the journal's cells); this is the end-to-end flow.
"""

import csv
import email
import email.policy
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.ingest import importer
from ocb_pipelines.ingest.importer import ImportRefused, import_file, inspect_file
from ocb_pipelines.ledger.export import export_journal
from ocb_pipelines.periods.lifecycle import close_period
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.review.decisions import Decision, record_decisions, select_charge_ids
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.review.sheets import export_sheet, unneutralise
from ocb_pipelines.statements.generate import generate_statements
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.statements.conftest import make_settings

MONTH = "2025-01"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def hostile_values(outside: Path) -> dict[str, str]:
    return {
        "dotdot": "../../../outside/pwned",
        "absolute": str(outside / "pwned"),
        "script": '<script>alert("x")</script><b>bold</b>',
        "attribute": '" onmouseover="alert(1)',
        "formula_eq": '=HYPERLINK("http://evil.example","click")',
        "formula_plus": "+1+1",
        "formula_minus": "-2+3",
        "formula_at": "@SUM(A1:A9)",
        "formula_tab": "\t=1+1",
        "formula_cr": "\r=1+1",
        "long": "L" * 100_000,
        "rtl": "\u202egnp.exe\u202c שלום مرحبا",
        "emoji": "🚀🔬 astro 🌌",
    }


def _cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def _formula_cells(path: Path) -> list[str]:
    """Cells that a spreadsheet would run as a formula (numbers like -5.50 are fine)."""
    return [c[:40] for c in _cells(path) if c.startswith(FORMULA_START) and not NUMBER.fullmatch(c)]


def _under(path: Path, folders: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(f.resolve()) for f in folders)


@pytest.fixture(scope="module")
def month_end(tmp_path_factory):
    """Every hostile value as a project id and a resource id; the whole month end run on them (once)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _month_end(tmp_path_factory.mktemp("hostile"), monkeypatch)


def _month_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    settings = make_settings(tmp_path, monkeypatch)
    values = hostile_values(tmp_path / "outside")
    tags = [{"pi_email": "pi.one@example.edu", "project_id": v, "fund_org": "ABC-123456", "grant_number": v}
            for v in values.values()]
    rows = [charge_row(MONTH, resource=value, billed=f"{k + 1}.25", ResourceName="test-node", Tags=json.dumps(tag))
            for k, (value, tag) in enumerate(zip(values.values(), tags, strict=True))]
    path = write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", rows)
    sheet = settings.review_dir / "export" / f"review_{MONTH}.csv"
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[MONTH], source="aws")
        build_validated(con, MONTH, rules_from(settings))
        assert export_sheet(con, MONTH, sheet) == len(values)  # every row is flagged (^test-): all in the sheet
        ids = select_charge_ids(con, MONTH, everything=True)
        record_decisions(con, MONTH, [Decision(i, "approve", "checked by hand") for i in ids],
                         actor="tester", via="test")
        build_approved(con, MONTH)
        close_period(con, MONTH, "tester")
        statements = generate_statements(con, settings, MONTH, workers=1)
        delivered = deliver_month(con, settings, MONTH)
        journal = export_journal(con, settings, MONTH)
    return {"settings": settings, "values": values, "sheet": sheet, "statements": statements,
            "delivered": delivered, "journal": journal, "root": tmp_path}


def test_values_survive_import_exactly(month_end):
    settings, values = month_end["settings"], month_end["values"]
    with wh.connect(settings.warehouse_path) as con:
        stored = {r[0] for r in con.execute("SELECT resource_id FROM charges_approved").fetchall()}
    assert stored == set(values.values())


def test_no_file_outside_the_output_folders(month_end):
    settings, root = month_end["settings"], month_end["root"]
    allowed = [settings.inbox_dir, settings.review_dir, settings.output.pdf_dir, settings.output.email_dir,
               settings.output.journal_dir, settings.dagster_home, root / "dagster_home"]
    stray = [p for p in root.rglob("*") if p.is_file() and not _under(p, allowed)
             and p not in (settings.config_path, settings.warehouse_path) and not p.name.startswith("warehouse.")]
    assert stray == []
    assert not (root / "outside").exists() and not (root.parent / "outside").exists()
    written = [o.pdf_path for o in month_end["statements"].outcomes] + [o.csv_path for o in
                                                                        month_end["statements"].outcomes]
    assert all(p.parent == (settings.output.pdf_dir / MONTH).resolve() for p in written)
    for path in root.rglob("*"):
        assert len(path.name) < 150 and "\x00" not in path.name and "\u202e" not in path.name, path.name
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", p.name) for p in settings.output.email_dir.rglob("*"))


def test_no_formula_in_any_csv_we_write(month_end):
    values = month_end["values"]
    csvs = [month_end["sheet"], month_end["journal"].file_path, *(o.csv_path for o in month_end["statements"].outcomes)]
    assert len(csvs) == 2 + len(values)
    for path in csvs:
        assert _formula_cells(path) == [], path.name
    # the sheet still carries every value exactly (a leading ' is what neutralised it)
    sheet_cells = {unneutralise(c) for c in _cells(month_end["sheet"])}
    assert set(values.values()) <= sheet_cells
    statement_cells = {unneutralise(c) for o in month_end["statements"].outcomes for c in _cells(o.csv_path)}
    assert set(values.values()) <= statement_cells


def test_email_html_escapes_markup_and_shows_the_values(month_end):
    settings, values = month_end["settings"], month_end["values"]
    [item] = month_end["delivered"].items  # one PI: one email with every project
    assert item["status"] == "written"
    eml = Path(item["destination"])
    assert eml.parent.resolve().is_relative_to(settings.output.email_dir.resolve())
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "<script" not in html.lower() and "<b>bold" not in html and 'onmouseover="' not in html
    assert "&lt;script&gt;" in html and "🚀🔬 astro 🌌" in html and "שלום مرحبا" in html
    assert "🚀🔬 astro 🌌" in text and '<script>alert("x")</script>' in text  # plain text is not HTML
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert len(names) == 2 * len(values)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) and ".." not in n for n in names)


def test_pdf_shows_the_values_as_text(month_end):
    values = month_end["values"]
    texts = {}
    for outcome in month_end["statements"].outcomes:
        reader = PdfReader(outcome.pdf_path)
        texts[outcome.statement.project_id] = "".join(page.extract_text() for page in reader.pages).replace("\n", "")
    everything = "".join(texts.values())  # without line breaks: break-all wraps long values
    for name in ("dotdot", "absolute", "formula_eq", "formula_at", "formula_plus"):
        assert values[name] in everything, name
    assert "<script>alert" in everything.replace("\n", "")  # shown as text, not run
    assert "שלום" in everything or "םולש" in everything  # RTL text, in logical or visual order
    assert "astro" in texts[values["emoji"]]
    assert "L" * 150 in texts[values["long"]]  # cut to 200 characters in the PDF; whole in the CSV


def test_journal_lines_carry_the_values_safely(month_end):
    """One PI line per grant reference: each value is a Reference ID, and in its line's description."""
    settings, values = month_end["settings"], month_end["values"]
    with month_end["journal"].file_path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    # references that differ only by surrounding white space (\t=1+1, \r=1+1) share a line
    assert {unneutralise(line["Reference ID"]) for line in lines} >= {v.strip() for v in values.values()}
    cut = settings.journal.description_max_length
    assert all(len(line["Description"]) <= cut + 1 for line in lines)  # + a neutralising quote
    assert any(line["Description"].startswith("aws 2025-01 =HYPERLINK") for line in lines)  # not first: no formula


def _nul_refused(path: Path, tmp_path: Path) -> str:
    with pytest.raises(ImportRefused) as err, wh.connect(tmp_path / "nul.duckdb") as con:
        import_file(con, path, months=[MONTH], source="aws")
    with wh.connect(tmp_path / "nul.duckdb") as con:
        assert con.execute("SELECT count(*) FROM focus_raw").fetchall() == [(0,)]
    return str(err.value)


def test_nul_in_a_csv_is_refused_with_file_line_and_column(tmp_path):
    """NUL is never a legitimate billing value: the file is refused, naming where, and nothing is written."""
    path = write_focus_csv(tmp_path / f"aws_{MONTH}.csv", [charge_row(), charge_row(resource="a\x00b")])
    message = _nul_refused(path, tmp_path)
    assert message.startswith(path.name) and "NUL" in message and "line 3" in message and "ResourceId" in message


def test_nul_deep_in_a_large_csv_is_refused_too(tmp_path):
    rows = [charge_row(resource=f"vm-{i}") for i in range(800)] + [charge_row(resource="a\x00b")]
    path = write_focus_csv(tmp_path / f"aws_{MONTH}.csv", rows)
    message = _nul_refused(path, tmp_path)
    assert message.startswith(path.name) and "NUL" in message and "ResourceId" in message


def test_nul_noted_while_hashing_is_refused_too(tmp_path):
    """A settled file inspected first (the CLI's path) has its NUL bytes noted as it is hashed: the import
    relies on that note instead of reading the file again, and still refuses it, naming where."""
    path = write_focus_csv(tmp_path / f"aws_{MONTH}.csv", [charge_row(), charge_row(resource="a\x00b")])
    clean = write_focus_csv(tmp_path / f"azure_{MONTH}.csv", [charge_row(), charge_row(resource="ab")])
    settled = time.time() - 3600
    for file in (path, clean):
        os.utime(file, (settled, settled))
        inspect_file(file)
    assert importer.file_has_nul_byte(path) and not importer.file_has_nul_byte(clean)
    message = _nul_refused(path, tmp_path)
    assert message.startswith(path.name) and "NUL" in message and "line 3" in message and "ResourceId" in message


def test_nul_in_a_tag_value_is_refused(tmp_path):
    """Tags JSON may spell NUL as \\u0000: that is refused as well."""
    tags = json.dumps({"pi_email": "pi.one@example.edu", "project_id": "nul\x00proj", "fund_org": "ABC-123456"})
    path = write_focus_csv(tmp_path / f"aws_{MONTH}.csv", [charge_row(), charge_row(Tags=tags)])
    assert "\\u0000" in path.read_text(encoding="utf-8")
    message = _nul_refused(path, tmp_path)
    assert message.startswith(path.name) and "NUL" in message and "Tags" in message


def test_nul_in_an_extra_column_is_refused(tmp_path):
    """Extra columns are kept as a JSON object, where a NUL is spelled \\u0000: still found and named."""
    from ocb_pipelines_tests.conftest import focus_row, write_focus

    rows = [focus_row(MONTH, x_UsageType="box"), focus_row(MONTH, x_UsageType="a\x00b")]
    path = write_focus(tmp_path / f"aws_{MONTH}.csv", rows, extra=["x_UsageType"])
    message = _nul_refused(path, tmp_path)
    assert message.startswith(path.name) and "NUL" in message and "line 3" in message and "x_ columns" in message


def test_nul_in_parquet_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = charge_row(resource="a\x00b")
    path = tmp_path / f"aws_{MONTH}.parquet"
    pq.write_table(pa.table({k: pa.array([v], type=pa.string()) for k, v in row.items()}), path)
    message = _nul_refused(path, tmp_path)
    assert message.startswith(path.name) and "NUL" in message and "ResourceId" in message


def test_sheet_reading_back_never_runs_a_formula():
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["'=1+1", "'@x"])
    assert [unneutralise(c) for c in next(csv.reader(io.StringIO(buffer.getvalue())))] == ["=1+1", "@x"]
