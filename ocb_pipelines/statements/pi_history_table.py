"""The `pi_history` table: each PI and project's last 12 months as of a billing month, gated, then stored (no Dagster).

    charges_approved  ->  pi_history.load_history (one query)  ->  Pandera gate  ->  one transaction:
    delete the month's slice, insert it

The gate refuses the slice before anything is written when a row is not what the history promises: money that is
no Decimal, subsidy != list - billed, a gap with money or lines, a month outside the window, two rows for one PI,
project and month, or a month whose billed total differs from its approved charges (summed apart, in DuckDB).
A slice is a read model of billed months: it may be rebuilt for any month, closed and finalized ones included
(their charges do not change, so neither does it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import duckdb
import pandas as pd
import pandera.pandas as pa

from ocb_pipelines.core.gates import describe_keyed_failures
from ocb_pipelines.statements.pi_history import ASSET_MONTHS, HISTORY_SQL, NO_PROJECT, History, load_history
from ocb_pipelines.warehouse import database as wh

COLUMNS = ("billing_month", "month", "pi_email", "project_id", "billed_total", "list_total", "subsidy_total",
           "line_count", "gap", "built_at", "run_id")


class HistoryGateError(ValueError):
    """The history failed its schema; nothing was written."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


def _is_decimal(series: pd.Series) -> pd.Series:
    return series.map(lambda v: isinstance(v, Decimal)).astype(bool)


def history_frame(history: History) -> pd.DataFrame:
    """One row per PI, project and month; money as Python Decimals (object columns, never float)."""
    rows = history.rows
    return pd.DataFrame({
        "month": pd.Series([r.month for r in rows], dtype=object),
        "pi_email": pd.Series([r.pi_email for r in rows], dtype=object),
        "project_id": pd.Series([r.project_id for r in rows], dtype=object),
        "billed_total": pd.Series([r.billed_total for r in rows], dtype=object),
        "list_total": pd.Series([r.list_total for r in rows], dtype=object),
        "subsidy_total": pd.Series([r.subsidy_total for r in rows], dtype=object),
        "line_count": pd.Series([r.lines for r in rows], dtype="int64"),
        "gap": pd.Series([r.gap for r in rows], dtype=bool),
    })


def history_schema(months: tuple[str, ...]) -> pa.DataFrameSchema:
    money = pa.Check(_is_decimal, error="money must be a Decimal")
    return pa.DataFrameSchema(
        {
            "month": pa.Column(object, checks=pa.Check.isin(list(months), error="a month outside the window")),
            "pi_email": pa.Column(object, nullable=True),
            "project_id": pa.Column(object, checks=pa.Check(lambda s: s.map(lambda v: isinstance(v, str) and v != "")
                                                            .astype(bool), error="a row needs a project")),
            "billed_total": pa.Column(object, checks=money),
            "list_total": pa.Column(object, checks=money),
            "subsidy_total": pa.Column(object, checks=money),
            "line_count": pa.Column(int, checks=pa.Check.ge(0)),
            "gap": pa.Column(bool),
        },
        checks=[
            pa.Check(lambda df: ~df.duplicated(["month", "pi_email", "project_id"], keep=False),
                     name="one_row_per_pi_project_month", error="two rows for one PI, project and month"),
            pa.Check(lambda df: df["list_total"] - df["billed_total"] == df["subsidy_total"], name="subsidy",
                     error="subsidy must equal list - billed"),
            pa.Check(lambda df: ~df["gap"] | ((df["line_count"] == 0) & (df["billed_total"] == 0)
                                              & (df["list_total"] == 0)),
                     name="gap_is_empty", error="a gap has no charges"),
            pa.Check(lambda df: df["gap"] | (df["line_count"] > 0), name="month_has_lines",
                     error="a month that is not a gap has charge lines"),
        ],
        strict=True,
        coerce=False,
    )


def _describe(exc: pa.errors.SchemaErrors, frame: pd.DataFrame, limit: int) -> list[str]:
    return describe_keyed_failures(
        exc, frame, limit, lambda row: f"{row['month']}, PI {row['pi_email']!r}, project {row['project_id']!r}")


def gate_history(con: duckdb.DuckDBPyConnection, history: History, limit: int = 20) -> list[str]:
    """Every reason the slice must not be written (empty: it may)."""
    frame = history_frame(history)
    problems: list[str] = []
    try:
        history_schema(history.months).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        problems.extend(_describe(exc, frame, limit))
    approved = dict(con.execute(
        "SELECT billing_month, sum(billed_cost) FROM charges_approved WHERE billing_month BETWEEN ? AND ? "
        "GROUP BY 1", [history.first, history.month],
    ).fetchall())
    for totals in history.month_totals():
        want = Decimal(approved.get(totals["month"], 0))
        if totals["billed"] != want:
            problems.append(f"{totals['month']}: history billed {totals['billed']} != approved charges {want}")
    return problems[:limit]


@dataclass(frozen=True)
class HistoryResult:
    history: History
    rows_written: int


def build_pi_history(con: duckdb.DuckDBPyConnection, month: str, *, run_id: str | None = None,
                     months: int = ASSET_MONTHS) -> HistoryResult:
    """Compute, gate and store `month`'s slice of `pi_history` (one transaction: delete the slice, insert)."""
    history = load_history(con, month, months)
    problems = gate_history(con, history)
    if problems:
        listing = "\n  - ".join(problems)
        raise HistoryGateError(f"pi_history for {month} failed its schema; nothing was written:\n  - {listing}",
                               problems)
    with wh.transaction(con):  # the gated rows, inserted by the same query inside DuckDB (exact, no row loop)
        con.execute("DELETE FROM pi_history WHERE billing_month = ?", [history.month])
        con.execute(
            f"INSERT INTO pi_history ({', '.join(COLUMNS)}) SELECT $last, month, pi_email, project_id, billed_total, "
            f"list_total, list_total - billed_total, line_count, gap, $now, $run_id FROM ({HISTORY_SQL})",
            {"first": history.first, "last": history.month, "no_project": NO_PROJECT, "pi": None,
             "now": wh.now_utc(), "run_id": run_id},  # every PI
        )
        written = int(con.execute("SELECT count(*) FROM pi_history WHERE billing_month = ?",
                                  [history.month]).fetchall()[0][0])
        if written != len(history.rows):  # the charges changed since the gate read them: write nothing
            raise HistoryGateError(f"pi_history for {history.month}: the approved charges changed while it was "
                                   "built; nothing was written, run it again", [])
    return HistoryResult(history, written)
