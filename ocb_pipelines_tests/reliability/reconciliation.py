"""The reconciliation check the tests run after every step of the demo and after every kill of the kill loops:
imported = approved + pending + rejected, per month, to the cent (the package's own query, periods/reconcile.py).

A closed or finalized month must always reconcile. An open month may be left needing validation by a kill between
an import and its validation; that is reported (the next `ocb ingest` validates it) but is no loss, as long as
nothing downstream goes ahead on it, which the close, statements and journal guards see to.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ocb_pipelines.periods.reconcile import Reconciliation, reconcile
from ocb_pipelines.warehouse import database as wh


def month_figures(db: Path) -> dict[str, tuple[str, Reconciliation]]:
    """month -> (status, reconciliation) for every billing month of the warehouse file."""
    con = duckdb.connect(str(db), config=dict(wh.CONNECTION_CONFIG))
    try:
        wh.configure(con)
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'billing_periods'")
        if not tables.fetchall()[0][0]:
            return {}  # killed before the schema's one transaction was on disk (a torn WAL is ignored): no money yet
        months = con.execute("SELECT period, status FROM billing_periods ORDER BY period").fetchall()
        return {m: (status, reconcile(con, m)) for m, status in months}
    finally:
        con.close()


def findings(db: Path, *, open_may_need_validation: bool = False) -> list[str]:
    """What does not reconcile (empty: every month does). With `open_may_need_validation`, an open month whose
    only problem is rows not yet validated (a kill before validation) is not a finding."""
    if not db.exists():
        return []
    out = []
    for month, (status, figures) in month_figures(db).items():
        if figures.balanced:
            continue
        if open_may_need_validation and status == "open" and figures.needs_validation:
            continue
        out.append(f"{month} ({status}): {'; '.join(figures.problems())}")
    return out


def assert_reconciled(db: Path, *, open_may_need_validation: bool = False) -> None:
    found = findings(db, open_may_need_validation=open_may_need_validation)
    assert not found, found
