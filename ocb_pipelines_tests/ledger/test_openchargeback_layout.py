"""OpenChargeback compatibility of `ocb export-journal`: the `openchargeback` layout (its default journal columns,
one line per PI x project x service with a resource count, exact to the cent) and `-o FILE` (that file, never
overwritten), on a real DuckDB file and through the real CLI."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.ledger.export import export_journal
from ocb_pipelines.ledger.layouts import LISTING_COLUMNS
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, load_month, tagged

# The header of OpenChargeback's sample_data/outputs/journals/journal_2025-01_20260130_233508.csv (its
# output/journal.py `_export_default_format`), verbatim.
OPENCHARGEBACK_HEADER = "BillingPeriod,PIEmail,ProjectID,FundOrg,ServiceName,Amount,ResourceCount"


def _month(settings) -> None:
    load_month(settings, {"aws": [
        tagged(billed="10.004", resource="a1", service="Compute Engine"),
        tagged(billed="5.003", resource="a2", service="Compute Engine"),
        tagged(billed="1.001", resource="a3", service="Cloud Storage"),
        tagged(billed="2.50", resource="a4", service="Compute Engine", fund_org="XYZ-654321"),  # a second fund
        tagged(billed="3.333", resource="b1", service="=SUM(A1:A9)", pi_email="pi.two@example.edu",
               project_id="proj-b"),
    ]})


def _rows(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))


def _cli(settings, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(settings.config_path)])


def test_openchargeback_layout_lines_counts_and_exact_cents(settings):
    _month(settings)
    with wh.connect(settings.warehouse_path) as con:
        result = export_journal(con, settings, MONTH, "openchargeback")
    assert result.file_path.name == "journal_openchargeback_2025-01.csv"
    text = result.file_path.read_bytes().decode("utf-8")
    assert text.split("\r\n")[0] == OPENCHARGEBACK_HEADER == ",".join(LISTING_COLUMNS["openchargeback"][1])
    # Exact sums 1.001, 15.007, 2.50, 3.333 = 21.841: rounded once to 21.84, the missing cent to the largest
    # remainder (15.007 -> 15.01), so the lines add up to the approved total; the formula is neutralised.
    assert _rows(result.file_path)[1:] == [
        ["2025-01", "pi.one@example.edu", "proj-a", "ABC-123456", "Cloud Storage", "1.00", "1"],
        ["2025-01", "pi.one@example.edu", "proj-a", "ABC-123456", "Compute Engine", "15.01", "2"],
        ["2025-01", "pi.one@example.edu", "proj-a", "XYZ-654321", "Compute Engine", "2.50", "1"],
        ["2025-01", "pi.two@example.edu", "proj-b", "ABC-123456", "'=SUM(A1:A9)", "3.33", "1"],
    ]
    assert sum(Decimal(r[5]) for r in _rows(result.file_path)[1:]) == result.approved_total == Decimal("21.84")
    assert (result.line_count, result.charge_count) == (4, 5)


def test_cli_writes_the_named_file_and_never_overwrites(settings, tmp_path):
    _month(settings)
    target = tmp_path / "to_accounting" / "january.csv"
    first = _cli(settings, "export-journal", "-p", MONTH, "-f", "openchargeback", "-o", str(target), "--json")
    assert first.exit_code == 0, first.output
    payload = json.loads(first.stdout)
    assert (payload["file"], payload["status"], payload["format"]) == (str(target), "written", "openchargeback")
    assert target.read_bytes().startswith(OPENCHARGEBACK_HEADER.encode() + b"\r\n")
    assert sorted(p.name for p in target.parent.iterdir()) == ["january.csv"]  # that file, nothing else
    written = target.read_bytes()

    again = _cli(settings, "export-journal", "-p", MONTH, "-f", "openchargeback", "-o", str(target))
    assert again.exit_code == 0 and "unchanged" in again.output and target.read_bytes() == written

    other = _cli(settings, "export-journal", "-p", MONTH, "-o", str(target))  # gl: other bytes, same name
    assert other.exit_code == 1 and "Traceback" not in other.output
    assert f"{target} already exists" in other.output and "never overwritten" in other.output
    assert target.read_bytes() == written

    foreign = tmp_path / "mine.csv"
    foreign.write_text("my own notes\n", encoding="utf-8")
    refused = _cli(settings, "export-journal", "-p", MONTH, "-f", "summary", "-o", str(foreign), "--json")
    assert refused.exit_code == 1 and "already exists" in json.loads(refused.stdout)["problems"][0]
    assert foreign.read_text(encoding="utf-8") == "my own notes\n"
    with wh.connect(settings.warehouse_path) as con:
        refusals = con.execute("SELECT count(*) FROM audit_events WHERE action = 'journal_export_refused'").fetchall()
    assert refusals == [(2,)]


def test_cli_output_folders_still_work(settings, tmp_path):
    _month(settings)
    plain = tmp_path / "exports"  # no suffix, not there yet: a folder
    assert _cli(settings, "export-journal", "-p", MONTH, "-o", str(plain)).exit_code == 0
    assert (plain / "journal_gl_2025-01.csv").is_file()
    slashed = tmp_path / "journal.csv"  # a suffix, but a trailing separator says folder
    assert _cli(settings, "export-journal", "-p", MONTH, "-f", "standard", "-o", f"{slashed}/").exit_code == 0
    assert (slashed / "journal_standard_2025-01.csv").is_file()
    existing = tmp_path / "existing.dir"
    existing.mkdir()
    assert _cli(settings, "export-journal", "-p", MONTH, "-f", "summary", "-o", str(existing)).exit_code == 0
    assert (existing / "journal_summary_2025-01.csv").is_file()
