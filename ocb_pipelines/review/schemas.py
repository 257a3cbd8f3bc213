"""Pandera schema of approved charges: the gate in front of `charges_approved`.

What later steps (statements, journal) rely on: one row per charge id, only rows that may be billed
(no rejected or pending row), money present, and corrected rows complete (pi_email, project_id and
fund_org all present).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

BILLABLE_STATUSES = ("unflagged", "approved", "corrected")
GATED_COLUMNS = (
    "charge_id", "billing_month", "file_name", "file_row_number", "review_status", "needs_review",
    "billed_cost", "effective_cost", "billing_currency", "pi_email", "project_id", "fund_org",
)  # fmt: skip


def _present(series: pd.Series) -> pd.Series:
    return series.notna() & (series.astype("string").str.strip().fillna("") != "")


def _corrected_complete(df: pd.DataFrame) -> pd.Series:
    corrected = df["review_status"].astype("string") == "corrected"
    complete = _present(df["pi_email"]) & _present(df["project_id"]) & _present(df["fund_org"])
    return (~corrected | complete).astype(bool)


def _unflagged_consistent(df: pd.DataFrame) -> pd.Series:
    unflagged = df["review_status"].astype("string") == "unflagged"
    return (~unflagged | ~df["needs_review"].astype(bool)).astype(bool)


def approved_schema(month: str) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "charge_id": pa.Column(nullable=False, unique=True, checks=pa.Check.str_length(20, 20)),
            "billing_month": pa.Column(nullable=False, checks=pa.Check.eq(month, error=f"row not in month {month}")),
            "review_status": pa.Column(
                nullable=False,
                checks=pa.Check.isin(BILLABLE_STATUSES, error="a rejected or pending charge must not be billed"),
            ),
            "billed_cost": pa.Column(nullable=False),
            "effective_cost": pa.Column(nullable=False),
            "billing_currency": pa.Column(nullable=False),
        },
        checks=[
            pa.Check(_corrected_complete, name="corrected_rows_complete",
                     error="a corrected charge needs pi_email, project_id and fund_org"),
            pa.Check(_unflagged_consistent, name="unflagged_means_no_reason",
                     error="a charge with review reasons cannot be billed without a decision"),
        ],
        strict=False,
    )
