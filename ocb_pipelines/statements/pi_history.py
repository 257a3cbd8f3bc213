"""A PI's months side by side: billed, list and subsidy per PI and project over a window of months (no Dagster).

One query over `charges_approved` (what was billed) gives, for a month M and the months before it:

* the window: the calendar months M-(n-1) .. M that exist in the warehouse (a `billing_periods` row or approved
  charges), so a warehouse that starts in March never shows January and February;
* per PI and project (keyed like statements: trimmed, "(no project)"), from the first month of the window in
  which it had charges: each month's billed, list (a NULL list price counts as billed, as on statements) and
  subsidy (list - billed), exact Decimals, and its number of lines;
* a month with no charges for a PI and project that had charges earlier in the window is a gap: zero amounts,
  no lines, `gap` true.

The `pi_history` asset (12 months) and every statement (6 months, all statements of a month in the same one
query) use this function, so the PDF and the Dagster UI never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from ocb_pipelines.core.billing_month import BillingMonth
from ocb_pipelines.statements.lines import NO_PROJECT

ASSET_MONTHS = 12  # the pi_history asset: the partition's month and the 11 before it
STATEMENT_MONTHS = 6  # a statement: its month and the 5 before it
ZERO = Decimal(0)

HISTORY_SQL = """
WITH months AS (
    SELECT period AS month FROM billing_periods WHERE period BETWEEN $first AND $last
    UNION
    SELECT DISTINCT billing_month FROM charges_approved WHERE billing_month BETWEEN $first AND $last
), amounts AS (
    SELECT billing_month AS month, nullif(trim(pi_email), '') AS pi_email,
           coalesce(nullif(trim(project_id), ''), $no_project) AS project_id,
           sum(billed_cost) AS billed, sum(coalesce(list_cost, billed_cost)) AS listed, count(*) AS lines
    FROM charges_approved WHERE billing_month BETWEEN $first AND $last
        AND (CAST($pi AS VARCHAR) IS NULL OR lower(trim(pi_email)) = CAST($pi AS VARCHAR))
    GROUP BY ALL
), firsts AS (
    SELECT pi_email, project_id, min(month) AS first_month FROM amounts GROUP BY ALL
)
SELECT m.month AS month, f.pi_email AS pi_email, f.project_id AS project_id, coalesce(a.billed, 0) AS billed_total,
       coalesce(a.listed, 0) AS list_total, coalesce(a.lines, 0) AS line_count, a.month IS NULL AS gap
FROM firsts f
JOIN months m ON m.month >= f.first_month
LEFT JOIN amounts a ON a.month = m.month AND a.pi_email IS NOT DISTINCT FROM f.pi_email
                   AND a.project_id = f.project_id
ORDER BY f.pi_email NULLS FIRST, f.project_id, m.month
"""

MONTHS_SQL = """
SELECT period FROM billing_periods WHERE period BETWEEN $first AND $last
UNION
SELECT DISTINCT billing_month FROM charges_approved WHERE billing_month BETWEEN $first AND $last
ORDER BY 1
"""


@dataclass(frozen=True)
class HistoryMonth:
    """One month of one PI and project: exact money, or a gap (no charges that month, but earlier in the window)."""

    month: str
    pi_email: str | None
    project_id: str
    billed_total: Decimal
    list_total: Decimal
    lines: int
    gap: bool

    @property
    def subsidy_total(self) -> Decimal:
        return self.list_total - self.billed_total

    def hash_text(self) -> str:
        """What a statement's content hash takes from it (a changed history re-renders the statement)."""
        if self.gap:
            return f"history {self.month} gap"
        return (f"history {self.month} {format(self.billed_total.normalize(), 'f')} "
                f"{format(self.list_total.normalize(), 'f')} {self.lines}")


@dataclass(frozen=True)
class History:
    """The window (`first` .. `month`; `months`: those that exist, oldest first) and its rows, sorted by PI, project,
    month."""

    month: str
    first: str
    months: tuple[str, ...]
    rows: tuple[HistoryMonth, ...]

    def by_statement(self) -> dict[tuple[str | None, str], list[HistoryMonth]]:
        """Rows per (PI, project), each list oldest month first."""
        out: dict[tuple[str | None, str], list[HistoryMonth]] = {}
        for row in self.rows:
            out.setdefault((row.pi_email, row.project_id), []).append(row)
        return out

    def month_totals(self) -> list[dict[str, object]]:
        """Per month of the window: billed, list, subsidy, lines, PIs with charges, PI x project rows and gaps."""
        totals = {m: {"month": m, "billed": ZERO, "list": ZERO, "subsidy": ZERO, "lines": 0, "pis": set(),
                      "projects": 0, "gaps": 0} for m in self.months}
        for row in self.rows:
            t = totals[row.month]
            if row.gap:
                t["gaps"] += 1  # type: ignore[operator]
                continue
            t["billed"] += row.billed_total  # type: ignore[operator]
            t["list"] += row.list_total  # type: ignore[operator]
            t["subsidy"] += row.subsidy_total  # type: ignore[operator]
            t["lines"] += row.lines  # type: ignore[operator]
            t["projects"] += 1  # type: ignore[operator]
            t["pis"].add(row.pi_email)  # type: ignore[attr-defined]
        return [{**t, "pis": len(t["pis"])} for t in totals.values()]  # type: ignore[arg-type]


def window_start(month: str, months: int) -> str:
    """The first calendar month of a window of `months` months ending with `month`."""
    first = BillingMonth.parse(month)
    for _ in range(months - 1):
        first = first.previous()
    return first.key


def load_history(con: duckdb.DuckDBPyConnection, month: str, months: int = ASSET_MONTHS, *,
                 pi: str | None = None) -> History:
    """The history of every PI and project over `month` and the months - 1 before it, in one query; with `pi` (an
    email, matched trimmed and in any case) that PI's projects only."""
    params = {"first": window_start(month, months), "last": BillingMonth.parse(month).key}
    window = tuple(m for (m,) in con.execute(MONTHS_SQL, params).fetchall())
    pi_key = pi.strip().lower() if pi is not None else None
    rows = con.execute(HISTORY_SQL, {**params, "no_project": NO_PROJECT, "pi": pi_key}).fetchall()
    return History(params["last"], params["first"], window, tuple(
        HistoryMonth(m, pi, project, Decimal(billed), Decimal(listed), int(lines), bool(gap))
        for m, pi, project, billed, listed, lines, gap in rows
    ))


def statement_history(con: duckdb.DuckDBPyConnection, month: str,
                      months: int = STATEMENT_MONTHS) -> Mapping[tuple[str | None, str], Sequence[HistoryMonth]]:
    """Every statement's history of `month` at once, by (PI, project)."""
    return load_history(con, month, months).by_statement()


@dataclass(frozen=True)
class HistoryBar:
    """A history row as the PDF prints it: the month's label, its money, and bar widths in whole percent of the
    window's largest list price (billed dark, subsidy light; a credit or a gap draws no bar)."""

    row: HistoryMonth
    label: str
    current: bool
    billed_percent: int
    subsidy_percent: int


def _percent(part: Decimal, whole: Decimal) -> int:
    if whole <= 0 or part <= 0:
        return 0
    return int((part * 100 / whole).to_integral_value(rounding="ROUND_HALF_EVEN"))


def history_bars(rows: Sequence[HistoryMonth], month: str) -> list[HistoryBar]:
    """The rows of a statement's history table, oldest first, `month` (the statement's) marked current."""
    widest = max((max(r.list_total, r.billed_total) for r in rows), default=ZERO)
    bars = []
    for r in rows:
        billed = _percent(r.billed_total, widest)
        subsidy = min(_percent(r.subsidy_total, widest), 100 - billed)
        label = BillingMonth.parse(r.month).first_day.strftime("%b %Y")
        bars.append(HistoryBar(r, label, r.month == month, billed, max(subsidy, 0)))
    return bars
