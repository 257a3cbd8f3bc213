"""Listing layouts of a journal export (no Dagster): `standard` (one line per approved charge), `summary` (one
line per PI, project and fund) and `openchargeback`, and the columns each writes.

These are exports of a closed month's approved charges, produced on request by the journal export service;
the `gl_journal` asset is always the balanced GL journal (ledger/journal.py). Amounts use the journal's one
rounding rule (ledger/rules.py).

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

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.ledger import journal as jr
from ocb_pipelines.ledger.csv_safety import write_rows
from ocb_pipelines.ledger.rules import allocate_cents, cents_amount, resolve_account

OPENCHARGEBACK = "openchargeback"
NO_PROJECT = "(no project)"
NO_SERVICE = "Other"

STANDARD_COLUMNS = (
    "period", "charge_id", "source", "pi_email", "project_id", "fund_org", "account", "reference_id",
    "service_name", "resource_id", "resource_name", "file_name", "file_row_number", "amount", "billed_cost_exact",
)  # fmt: skip
SUMMARY_COLUMNS = ("period", "pi_email", "project_id", "fund_org", "amount", "charge_count", "billed_cost_exact")


def build_standard(charges: Sequence[dict[str, Any]], settings: OcbSettings, period: str) -> jr.Journal:
    """One row per approved charge (ordered by source, file, row); amounts in cents by the same rule."""
    if not charges:
        raise jr.JournalRefused(period, [f"no approved charges in {period}: nothing to export"])
    cents = allocate_cents([c["billed_cost"] for c in charges])
    rows = []
    for c, amount in zip(charges, cents, strict=True):
        account, _origin = resolve_account(c.get("account_code"), settings, c["source"])
        rows.append({
            "period": period, "charge_id": c["charge_id"], "source": c["source"], "pi_email": c.get("pi_email"),
            "project_id": c.get("project_id"), "fund_org": c.get("fund_org"), "account": account,
            "reference_id": c.get("reference"), "service_name": c.get("service_name"),
            "resource_id": c.get("resource_id"), "resource_name": c.get("resource_name"),
            "file_name": c.get("file_name"), "file_row_number": c.get("file_row_number"),
            "amount": cents_amount(amount), "amount_cents": amount, "billed_cost_exact": c["billed_cost"],
        })  # fmt: skip
    approved = sum((c["billed_cost"] for c in charges), Decimal(0))
    return jr.Journal(period, "standard", [], approved, len(charges), rows=rows)


def build_summary(groups: Sequence[jr.ChargeGroup], period: str) -> jr.Journal:
    """One row per (PI, project, fund); a missing value shows as empty."""
    if not groups:
        raise jr.JournalRefused(period, [f"no approved charges in {period}: nothing to export"])
    totals: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for g in groups:
        key = (g.pi_email or "", g.project_id or "", g.fund_org or "")
        totals[key][0] += g.billed
        totals[key][1] += g.charges
    keys = sorted(totals)
    cents = allocate_cents([totals[k][0] for k in keys])
    rows = [
        {"period": period, "pi_email": k[0], "project_id": k[1], "fund_org": k[2], "amount": cents_amount(c),
         "amount_cents": c, "charge_count": totals[k][1], "billed_cost_exact": totals[k][0]}
        for k, c in zip(keys, cents, strict=True)
    ]
    approved = sum((g.billed for g in groups), Decimal(0))
    return jr.Journal(period, "summary", [], approved, sum(g.charges for g in groups), rows=rows)

# format -> (row keys, header written): the header of `openchargeback` is OpenChargeback's.
LISTING_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "standard": (STANDARD_COLUMNS, STANDARD_COLUMNS),
    "summary": (SUMMARY_COLUMNS, SUMMARY_COLUMNS),
    OPENCHARGEBACK: (
        ("period", "pi_email", "project_id", "fund_org", "service_name", "amount", "resource_count"),
        ("BillingPeriod", "PIEmail", "ProjectID", "FundOrg", "ServiceName", "Amount", "ResourceCount"),
    ),
}
LAYOUTS = tuple(LISTING_COLUMNS)  # the exports besides the gl journal
FORMATS = ("gl", *LAYOUTS)


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
    cents = allocate_cents([totals[k][0] for k in keys])
    rows = []
    for (pi, project, service, fund), c in zip(keys, cents, strict=True):
        billed, charges = totals[(pi, project, service, fund)]
        rows.append({"period": period, "pi_email": pi, "project_id": project, "fund_org": fund,
                     "service_name": service, "amount": cents_amount(c), "amount_cents": c,
                     "resource_count": charges, "billed_cost_exact": billed})
    approved = sum((v[0] for v in totals.values()), Decimal(0))
    return jr.Journal(period, OPENCHARGEBACK, [], approved, sum(v[1] for v in totals.values()), rows=rows)


def render_listing(journal: jr.Journal) -> str:
    """A non-gl journal as CSV text (csv_safety's writer: CRLF, every cell neutralised and quoted as needed)."""
    keys, header = LISTING_COLUMNS[journal.format]
    return write_rows([header, *([r[k] for k in keys] for r in journal.rows)])
