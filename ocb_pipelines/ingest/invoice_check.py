"""What a month's FOCUS 1.4 facts say about closing it: provisional rows, and the invoices against our charges.

- Provisional rows: cost rows whose BillingPeriodStatus is Open (the provider may still add or revise rows). They
  are imported and billed like any row; the count and billed total per month are what the close rule
  (periods/lifecycle.py), the month's metadata and the desk read. A later file with BillingPeriodStatus Closed
  under the same name replaces them (a corrected file replaces its own rows) and unblocks the close.
- Invoice reconciliation: for each InvoiceId of the month's InvoiceDetail lines (ingest/invoices.py), the invoice's
  total against the BilledCost of the month's cost rows carrying that InvoiceId (from the same invoice issuers),
  exactly (DECIMAL): any difference, even one cent, is listed. Adjustment lines booked for late data of earlier
  months (imports.adjusts_month) are not part of this month's invoices and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.warehouse import database as wh


@dataclass(frozen=True)
class Provisional:
    """A month's provisional cost rows (BillingPeriodStatus Open): how many and their billed total."""

    rows: int
    billed: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "billed": self.billed}


NO_PROVISIONAL = Provisional(0, Decimal(0))


def provisional_rows(con: duckdb.DuckDBPyConnection, month: str) -> Provisional:
    """The month's raw cost rows whose BillingPeriodStatus is Open (any case, as the gate allows)."""
    rows, billed = con.execute(
        f"""SELECT count(*), coalesce(sum({wh.money_from_text('"BilledCost"')}), 0) FROM focus_rows
            WHERE billing_month = ? AND lower("BillingPeriodStatus") = 'open'""", [month]).fetchall()[0]
    return Provisional(rows, Decimal(billed))


def provisional_by_month(con: duckdb.DuckDBPyConnection) -> dict[str, Provisional]:
    """Every month with provisional rows (one pass, for the month summaries)."""
    return {m: Provisional(n, Decimal(b)) for m, n, b in con.execute(
        f"""SELECT billing_month, count(*), coalesce(sum({wh.money_from_text('"BilledCost"')}), 0) FROM focus_rows
            WHERE lower("BillingPeriodStatus") = 'open' GROUP BY 1""").fetchall()}


@dataclass(frozen=True)
class InvoiceCheck:
    """One invoice of the month against our charges of its InvoiceId. `invoice_total` is None for an InvoiceId our
    charges carry that no imported invoice has; `difference` is ours minus the invoice's."""

    invoice_id: str
    issuer: str | None
    currency: str | None
    invoice_total: Decimal | None
    our_total: Decimal
    our_rows: int

    @property
    def difference(self) -> Decimal:
        return self.our_total - (self.invoice_total or Decimal(0))

    @property
    def matches(self) -> bool:
        return self.invoice_total is not None and self.difference == 0

    def as_dict(self) -> dict[str, Any]:
        return {"invoice_id": self.invoice_id, "issuer": self.issuer, "currency": self.currency,
                "invoice_total": self.invoice_total, "our_total": self.our_total, "our_rows": self.our_rows,
                "difference": self.difference, "matches": self.matches}


_RECONCILE_SQL = f"""
WITH theirs AS (
    SELECT invoice_id, any_value(invoice_issuer_name) AS issuer, string_agg(DISTINCT billing_currency, ', ') AS cur,
           sum(billed_cost) AS total
    FROM invoice_lines WHERE billing_month = $month GROUP BY invoice_id
),
issuers AS (SELECT DISTINCT lower(coalesce(invoice_issuer_name, '')) AS issuer FROM invoice_lines
            WHERE billing_month = $month),
ours AS (
    SELECT f."InvoiceId" AS invoice_id, any_value(f."InvoiceIssuerName") AS issuer,
           string_agg(DISTINCT f."BillingCurrency", ', ') AS cur, count(*) AS n,
           sum({wh.money_from_text('f."BilledCost"')}) AS total
    FROM focus_rows f JOIN imports i ON i.import_key = f.import_key
    WHERE f.billing_month = $month AND f."InvoiceId" IS NOT NULL AND i.adjusts_month IS NULL
        AND (NOT EXISTS (SELECT 1 FROM issuers WHERE issuer <> '')
             OR lower(coalesce(f."InvoiceIssuerName", '')) IN (SELECT issuer FROM issuers))
    GROUP BY 1
)
SELECT coalesce(t.invoice_id, o.invoice_id), coalesce(t.issuer, o.issuer), coalesce(t.cur, o.cur), t.total,
       coalesce(o.total, 0), coalesce(o.n, 0)
FROM theirs t FULL JOIN ours o ON o.invoice_id = t.invoice_id
WHERE EXISTS (SELECT 1 FROM theirs)
ORDER BY 1
"""


def invoice_checks(con: duckdb.DuckDBPyConnection, month: str) -> list[InvoiceCheck]:
    """Each invoice of the month (and each InvoiceId of our charges no invoice has, from the same issuers) with
    both totals; empty when no InvoiceDetail file was imported for the month."""
    return [InvoiceCheck(i, issuer, cur, None if total is None else Decimal(total), Decimal(ours), n)
            for i, issuer, cur, total, ours, n in con.execute(_RECONCILE_SQL, {"month": month}).fetchall()]


def invoice_differences(checks: list[InvoiceCheck]) -> list[InvoiceCheck]:
    """The invoices that do not match our charges to the cent (or that we have no invoice for)."""
    return [c for c in checks if not c.matches]
