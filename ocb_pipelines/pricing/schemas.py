"""Pandera schema of priced charges: the gate between pricing and the write into focus_rows.

Pricing computes every amount itself, so what it guards against is its own inputs turning into nonsense: a
usage charge billed above its list price or below zero, a negative quantity, a credit line that credits
nothing, two charges on one file line. A refused month writes nothing (the caller's transaction rolls back).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from ocb_pipelines.core.gates import describe_schema_failures, validate_in_chunks

GATED_COLUMNS = ("import_key", "file_row_number", "file_name", "kind", "pricing_quantity", "list_cost", "billed_cost")


def _usage_ok(df: pd.DataFrame) -> pd.Series:
    """A usage charge bills 0 <= billed <= list; the rates file refuses billed above list, so this holds unless
    the rates or tiers were read wrongly."""
    usage = df["kind"] == "usage"
    billed, listed = df["billed_cost"], df["list_cost"]
    return ~usage | ((billed >= 0) & (billed <= listed))


def _credit_ok(df: pd.DataFrame) -> pd.Series:
    credit = df["kind"] == "credit"
    return ~credit | ((df["billed_cost"] < 0) & (df["list_cost"] == 0))


def priced_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "import_key": pa.Column(nullable=False),
            "file_row_number": pa.Column(nullable=False),
            "kind": pa.Column(nullable=False, checks=pa.Check.isin(["usage", "fee", "credit"])),
            "pricing_quantity": pa.Column(nullable=True, checks=pa.Check.ge(0)),
            "list_cost": pa.Column(nullable=False),
            "billed_cost": pa.Column(nullable=False),
        },
        checks=[
            pa.Check(_usage_ok, name="usage_billed_between_zero_and_list",
                     error="a usage charge must bill between 0 and its list price"),
            pa.Check(_credit_ok, name="credit_lines_credit", error="a credit line must bill less than 0, list 0"),
        ],
        strict=False,
    )


def describe_failures(error: pa.errors.SchemaErrors, frame: pd.DataFrame, limit: int = 20) -> list[str]:
    return describe_schema_failures(error, frame, limit, row_word="line")


def gate_priced(con, relations: list[str], limit: int = 20) -> list[str]:
    """Problems of the priced charges in `relations` (tables or SELECTs with pricing_charges' columns): the
    schema row by row, and one charge per (import, line) across them, checked in SQL."""
    union = " UNION ALL ".join(f"SELECT {', '.join(GATED_COLUMNS)} FROM {r if r.isidentifier() else f'({r})'}"
                               for r in relations)
    problems = validate_in_chunks(con, union, priced_schema(), describe_failures, limit=limit)
    repeated = con.execute(f"SELECT file_name, file_row_number FROM ({union}) GROUP BY import_key, file_name, "
                           "file_row_number "
                           "HAVING count(*) > 1 LIMIT 3").fetchall()
    problems += [f"{name} line {line}: priced twice" for name, line in repeated]
    return problems[:limit]
