"""Pandera schema of validated charges: the gate in front of `charges_validated`.

Money arrives as Arrow decimals (never floats). The schema holds the invariants the later steps rely
on: one row per charge id, a month that is the partition's, amounts present, a currency code, known
charge categories, and `needs_review` true exactly when there is a reason.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from ocb_pipelines.core.gates import describe_schema_failures
from ocb_pipelines.ingest.focus import ALLOWED_VALUES

GATED_COLUMNS = (
    "charge_id", "billing_month", "file_name", "file_row_number", "charge_category", "billing_currency",
    "billed_cost", "effective_cost", "needs_review", "review_count", "billing_period_start", "charge_period_start",
)  # fmt: skip


def validated_schema(month: str) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "charge_id": pa.Column(nullable=False, unique=True, checks=pa.Check.str_length(20, 20)),
            "billing_month": pa.Column(nullable=False, checks=pa.Check.eq(month, error=f"row not in month {month}")),
            "charge_category": pa.Column(nullable=False, checks=pa.Check.isin(ALLOWED_VALUES["ChargeCategory"])),
            "billing_currency": pa.Column(nullable=False, checks=pa.Check.str_matches(r"^[A-Z]{3}$")),
            "billed_cost": pa.Column(nullable=False),
            "effective_cost": pa.Column(nullable=False),
            "billing_period_start": pa.Column(nullable=False),
            "charge_period_start": pa.Column(nullable=False),
        },
        checks=[
            pa.Check(
                lambda df: df["needs_review"].astype(bool) == (df["review_count"].astype("int64") > 0),
                name="needs_review_iff_reason",
                error="needs_review must be true exactly when a review reason is recorded",
            )
        ],
        strict=False,
    )


def describe_failures(error: pa.errors.SchemaErrors, frame: pd.DataFrame, limit: int = 20) -> list[str]:
    return describe_schema_failures(error, frame, limit, row_word="row")
