"""The `statements` materialisation's lineage table: each statement's lines by source file, sha256 and row.

From a statement in the Dagster UI an auditor reaches the files and rows its amounts came from; `focus_raw` lists
the same files (sha256) for the month. The table is bounded (LINEAGE_ROWS rows) and says how much it shows.
"""

from collections.abc import Iterable

import dagster as dg

from ocb_pipelines.core.money import format_money
from ocb_pipelines.statements.lineage import row_ranges, statement_lineage
from ocb_pipelines.statements.lines import Statement

LINEAGE_ROWS = 1000  # (statement, file) rows in the table
SHA_PREFIX = 12

LINEAGE_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("PI", "string"),
    dg.TableColumn("project", "string"),
    dg.TableColumn("source", "string"),
    dg.TableColumn("file", "string"),
    dg.TableColumn("sha256", "string", description=f"the file's sha256, first {SHA_PREFIX} characters"),
    dg.TableColumn("rows", "string", description="the file's row numbers these lines were read from"),
    dg.TableColumn("lines", "int"),
    dg.TableColumn("billed", "string"),
])


def lineage_metadata(statements: Iterable[Statement], symbol: str) -> dict[str, dg.MetadataValue]:
    """`statement_lineage` (a table: PI, project, source, file, sha256 prefix, rows, lines, billed) and
    `statement_lineage_shown` (how many of its rows, statements and lines the table holds)."""
    statements = list(statements)
    lineage = statement_lineage(statements)
    shown = lineage[:LINEAGE_ROWS]
    records = [
        dg.TableRecord({"PI": f.pi_email or "", "project": f.project_id, "source": f.source, "file": f.file_name,
                        "sha256": f.file_sha256[:SHA_PREFIX], "rows": row_ranges(f.rows), "lines": f.lines,
                        "billed": format_money(f.billed_total, symbol)})
        for f in shown
    ]
    lines = sum(s.line_count for s in statements)
    if len(shown) == len(lineage):
        note = (f"all {len(lineage)} (statement, file) rows: {len(statements)} statement(s), {lines} line(s), each "
                "with its file, sha256 and row")
    else:
        cut = lineage[len(shown)]  # the first row left out: its statement is shown in part, if at all
        whole = len({(f.pi_email, f.project_id) for f in shown} - {(cut.pi_email, cut.project_id)})
        note = (f"the first {len(shown)} of {len(lineage)} (statement, file) rows, statements by PI and project: "
                f"{whole} of {len(statements)} statements in full; the CSV beside each statement's PDF lists every "
                "line with its file_name, file_sha256 and file_row_number")
    return {
        "statement_lineage": dg.MetadataValue.table(records=records, schema=LINEAGE_SCHEMA),
        "statement_lineage_shown": dg.MetadataValue.text(note),
    }
