"""The rule of gl_journal's check: the month's GL journal is balanced and equals the approved charges (no Dagster).

It looks at what was handed to accounting, the month's latest `gl` export as recorded in `journal_exports`
and its file on disk, not at a journal built again:
- debits = credits, to the cent;
- the approved total it was exported from equals the month's approved charges now, exactly (after a reopen
  and new decisions, the journal is out of date until it is exported again);
- the file is still there with the recorded sha256 (the file accounting reads is the one recorded).
The export itself refuses to write a journal that does not balance (invariant 2); this check shows the month's
state in the UI and catches a journal record or file changed afterwards.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from ocb_pipelines.core.checks import CheckOutcome
from ocb_pipelines.core.money import format_money
from ocb_pipelines.ledger.targets import sha256_text

LATEST_GL_SQL = """
SELECT export_id, file_path, file_sha256, line_count, debit_total, credit_total, approved_exact, exported_at
FROM journal_exports WHERE billing_month = ? AND format = 'gl' ORDER BY export_id DESC LIMIT 1
"""


def journal_check(con: duckdb.DuckDBPyConnection, month: str, symbol: str = "$") -> CheckOutcome:
    """The latest GL export of the month: balanced, equal to the approved charges, its file intact."""
    approved = Decimal(con.execute("SELECT coalesce(sum(billed_cost), 0) FROM charges_approved WHERE billing_month = ?",
                                   [month]).fetchall()[0][0])
    rows = con.execute(LATEST_GL_SQL, [month]).fetchall()
    if not rows:
        return CheckOutcome(False, f"{month}: no GL journal has been exported (materialise gl_journal, or "
                                   f"`ocb export-journal -p {month}`)", {"approved_billed": approved})
    export_id, path, sha, lines, debit, credit, exported_from, exported_at = rows[0]
    debit, credit, exported_from = Decimal(debit or 0), Decimal(credit or 0), Decimal(exported_from)
    figures = {"export_id": export_id, "file": path, "lines": lines, "debit_total": debit, "credit_total": credit,
               "exported_from_approved": exported_from, "approved_billed": approved}
    problems = []
    if debit != credit:
        problems.append(f"debits {format_money(debit, symbol)} != credits {format_money(credit, symbol)}")
    if exported_from != approved:
        problems.append(f"exported from approved charges of {format_money(exported_from, symbol)} ({exported_from}), "
                        f"but the month's approved charges are now {format_money(approved, symbol)} ({approved}): "
                        f"export it again (materialise gl_journal, or `ocb export-journal -p {month}`)")
    file = Path(path)
    if not file.is_file():
        problems.append(f"the journal file {file} is missing")
    elif sha256_text(file.read_bytes()) != sha:
        problems.append(f"the journal file {file} has changed since it was exported (sha256 {sha[:12]} recorded)")
    if problems:
        return CheckOutcome(False, f"{month}: GL journal export {export_id} ({exported_at:%Y-%m-%d %H:%M}): "
                                   + "; ".join(problems), figures)
    return CheckOutcome(True, f"{month}: GL journal export {export_id} balanced, debits = credits = "
                              f"{format_money(debit, symbol)}, from the approved {format_money(approved, symbol)}",
                        figures)
