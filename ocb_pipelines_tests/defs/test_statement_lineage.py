"""The `statements` materialisation links each statement to its lines' file, sha256 and row (the README's claim).

Before, the trace existed only in the CSV beside each PDF: from a statement in the UI there was no way to the
files and rows it came from.
"""

from __future__ import annotations

from collections import defaultdict

import dagster as dg

from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.statements import lineage as ui_lineage
from ocb_pipelines.statements.lineage import row_ranges
from ocb_pipelines.statements.lines import load_statements
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.statements.conftest import MONTH, load_month, make_settings, month_rows


def expected_lineage(settings) -> dict[tuple, list[int]]:
    """{(PI, project, file, sha256 prefix): rows} of the month's approved charges, read from the warehouse."""
    with wh.connect(settings.warehouse_path) as con:
        lines = con.execute("SELECT pi_email, project_id, file_name, file_sha256, file_row_number "
                            "FROM charges_approved WHERE billing_month = ?", [MONTH]).fetchall()
    out: dict[tuple, list[int]] = defaultdict(list)
    for pi, project, file_name, sha256, row in lines:
        out[(pi, project, file_name, sha256[:12])].append(row)
    return out


def test_the_statements_materialisation_carries_each_statements_lines_with_file_sha256_and_row(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, monkeypatch)
    load_month(settings, month_rows())
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        result = build_definitions(settings.config_path).resolve_job_def("statements_job").execute_in_process(
            partition_key=MONTH, instance=instance, tags={"ocb/trigger": "cli", "ocb/actor": "tester"})
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("statements"))
    metadata = event.asset_materialization.metadata
    table = metadata["statement_lineage"]
    assert [c.name for c in table.schema.columns] == ["PI", "project", "source", "file", "sha256", "rows", "lines",
                                                      "billed"]
    shown = {(r.data["PI"], r.data["project"], r.data["file"], r.data["sha256"]): r.data for r in table.records}
    expected = expected_lineage(settings)
    assert set(shown) == set(expected) and len(expected) == 2  # pi.one/proj-a and pi.two/proj-b, one file each
    for key, rows in expected.items():
        assert shown[key]["rows"] == row_ranges(rows) and shown[key]["lines"] == len(rows)
        assert len(key[3]) == 12 and key[2] == f"aws_{MONTH}.csv"
    assert shown[("pi.one@example.edu", "proj-a", f"aws_{MONTH}.csv", key[3])]["rows"] == "1-3"
    assert shown[("pi.one@example.edu", "proj-a", f"aws_{MONTH}.csv", key[3])]["billed"] == "$94.50"
    assert metadata["statement_lineage_shown"].value.startswith("all 2 (statement, file) rows: 2 statement(s), 4 line")


def test_rows_are_written_as_ranges_and_a_long_list_says_how_many_it_leaves_out():
    assert row_ranges([7, 1, 2, 3, 5, 8]) == "1-3, 5, 7-8"
    assert row_ranges([4]) == "4"
    assert row_ranges([1, 3, 5, 7, 8], limit=2) == "1, 3 and 3 more rows"


def test_a_large_month_shows_a_bounded_table_and_says_what_it_left_out(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, monkeypatch)
    load_month(settings, month_rows())
    with wh.connect(settings.warehouse_path) as con:
        statements = load_statements(con, MONTH)
    monkeypatch.setattr(ui_lineage, "LINEAGE_ROWS", 1)
    metadata = ui_lineage.lineage_metadata(statements, "$")
    assert len(metadata["statement_lineage"].records) == 1
    assert metadata["statement_lineage_shown"].value.startswith(
        "the first 1 of 2 (statement, file) rows, statements by PI and project: 1 of 2 statements in full")
    assert "file_name, file_sha256 and file_row_number" in metadata["statement_lineage_shown"].value
