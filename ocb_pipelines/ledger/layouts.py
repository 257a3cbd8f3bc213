"""Listing layouts of a journal export (no Dagster): which columns each non-gl format writes, and the
`openchargeback` layout.

`openchargeback` reproduces OpenChargeback's default `export-journal` file (its output/journal.py) so
scripts and spreadsheets that read it keep working: the columns `BillingPeriod, PIEmail, ProjectID,
FundOrg, ServiceName, Amount, ResourceCount`, one line per PI x project x service, sorted by PI,
project and service, `Amount` with two decimals and `ResourceCount` the number of charges (what
OpenChargeback counts under that name). A missing project reads `(no project)` and a missing service
`Other`, as there. Two deliberate differences:

- amounts are exact: summed as DECIMAL in the warehouse and rounded to cents by the journal's one rule
  (largest remainder, ledger/journal.py), so the lines add up to the approved total to the cent
  (OpenChargeback summed floats and rounded each line);
- a project billed to several funds gets a line per fund (OpenChargeback put the whole project on its
  first charge's fund). A project with one fund gives exactly OpenChargeback's lines.

Every cell goes through ledger/csv_safety like the other layouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.ledger import journal as jr
from ocb_pipelines.ledger.csv_safety import write_rows

OPENCHARGEBACK = "openchargeback"
NO_PROJECT = "(no project)"
NO_SERVICE = "Other"

# format -> (row keys, header written): the header of `openchargeback` is OpenChargeback's.
LISTING_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "standard": (jr.STANDARD_COLUMNS, jr.STANDARD_COLUMNS),
    "summary": (jr.SUMMARY_COLUMNS, jr.SUMMARY_COLUMNS),
    OPENCHARGEBACK: (
        ("period", "pi_email", "project_id", "fund_org", "service_name", "amount", "resource_count"),
        ("BillingPeriod", "PIEmail", "ProjectID", "FundOrg", "ServiceName", "Amount", "ResourceCount"),
    ),
}


def load_service_groups(con: duckdb.DuckDBPyConnection, month: str) -> list[tuple[Any, ...]]:
    """(pi_email, project_id, fund_org, service_name, exact billed sum, charges) of the month's approved charges."""
    return con.execute(
        """SELECT pi_email, project_id, fund_org, service_name, sum(billed_cost), count(*)
           FROM charges_approved WHERE billing_month = ?
           GROUP BY ALL""",
        [month],
    ).fetchall()


def build_openchargeback(groups: Sequence[tuple[Any, ...]], period: str) -> jr.Journal:
    """OpenChargeback's default journal lines from the service groups (see the module doc)."""
    if not groups:
        raise jr.JournalRefused(period, [f"no approved charges in {period}: nothing to export"])
    totals: dict[tuple[str, str, str, str], list[Any]] = {}
    for pi, project, fund, service, billed, charges in groups:
        key = (pi or "", project or NO_PROJECT, service or NO_SERVICE, fund or "")
        entry = totals.setdefault(key, [Decimal(0), 0])
        entry[0] += Decimal(billed)
        entry[1] += int(charges)
    keys = sorted(totals)
    cents = jr.allocate_cents([totals[k][0] for k in keys])
    rows = []
    for (pi, project, service, fund), c in zip(keys, cents, strict=True):
        billed, charges = totals[(pi, project, service, fund)]
        rows.append({"period": period, "pi_email": pi, "project_id": project, "fund_org": fund,
                     "service_name": service, "amount": jr.cents_amount(c), "amount_cents": c,
                     "resource_count": charges, "billed_cost_exact": billed})
    approved = sum((v[0] for v in totals.values()), Decimal(0))
    return jr.Journal(period, OPENCHARGEBACK, [], approved, sum(v[1] for v in totals.values()), rows=rows)


def render_listing(journal: jr.Journal) -> str:
    """A non-gl journal as CSV text (csv_safety's writer: CRLF, every cell neutralised and quoted as needed)."""
    keys, header = LISTING_COLUMNS[journal.format]
    return write_rows([header, *([r[k] for k in keys] for r in journal.rows)])
