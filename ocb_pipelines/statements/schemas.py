"""Pandera gate in front of PDF rendering: the numbers about to be printed equal the approved charges.

Two frames, both with money as Python Decimals (object columns; no float ever):

* one row per statement: PI and project present, (PI, project) unique, the statement's billed total
  equal to the approved charges of that PI and project (summed independently, in DuckDB), list -
  discount = billed, the fund amounts adding up to the billed total (to the cent when a funding split shares
  it in whole cents) and the fund percentages to 100.00;
* one row per fund share: a fund name, a percentage, an amount.

A month-level check compares the sum of all statements with the month's approved total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import pandas as pd
import pandera.pandas as pa

from ocb_pipelines.core.gates import describe_keyed_failures
from ocb_pipelines.statements.lines import HUNDRED, ZERO, Statement


class StatementGateError(ValueError):
    """The statements failed their schema; nothing was rendered or written."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


def _present(series: pd.Series) -> pd.Series:
    return series.map(lambda v: isinstance(v, str) and v.strip() != "").astype(bool)


def statement_frame(statements: Sequence[Statement], approved: Mapping[tuple, Decimal]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pi_email": [s.pi_email for s in statements],
            "project_id": [s.project_id for s in statements],
            "line_count": [s.line_count for s in statements],
            "list_total": pd.Series([s.list_total for s in statements], dtype=object),
            "discount_total": pd.Series([s.discount_total for s in statements], dtype=object),
            "billed_total": pd.Series([s.billed_total for s in statements], dtype=object),
            "approved_billed": pd.Series([approved.get((s.pi_email, s.project_id)) for s in statements],
                                         dtype=object),
            "fund_count": [len(s.funds) for s in statements],
            "fund_billed_sum": pd.Series([sum((f.billed_total for f in s.funds), ZERO) for s in statements],
                                         dtype=object),
            "funds_total": pd.Series([s.funds_total for s in statements], dtype=object),
            "fund_percent_sum": pd.Series([sum((f.percent for f in s.funds), ZERO) for s in statements],
                                          dtype=object),
        }
    ).astype({"pi_email": object, "project_id": object, "line_count": "int64", "fund_count": "int64"})


def fund_frame(statements: Sequence[Statement]) -> pd.DataFrame:
    rows = [(s.pi_email, s.project_id, f.fund_org, f.percent, f.billed_total) for s in statements for f in s.funds]
    frame = pd.DataFrame(rows, columns=["pi_email", "project_id", "fund_org", "percent", "billed_total"])
    return frame.astype({"pi_email": object, "project_id": object, "fund_org": object, "percent": object,
                         "billed_total": object})


def _is_decimal(series: pd.Series) -> pd.Series:
    return series.map(lambda v: isinstance(v, Decimal)).astype(bool)


STATEMENT_SCHEMA = pa.DataFrameSchema(
    {
        "pi_email": pa.Column(object, nullable=False, checks=pa.Check(_present, error="a statement needs a PI email")),
        "project_id": pa.Column(object, nullable=False, checks=pa.Check(_present, error="a statement needs a project")),
        "line_count": pa.Column(int, checks=pa.Check.gt(0)),
        "list_total": pa.Column(object, checks=pa.Check(_is_decimal, error="money must be a Decimal")),
        "billed_total": pa.Column(object, checks=pa.Check(_is_decimal, error="money must be a Decimal")),
        "discount_total": pa.Column(object, checks=pa.Check(_is_decimal, error="money must be a Decimal")),
        "approved_billed": pa.Column(object, nullable=True),
        "fund_billed_sum": pa.Column(object),
        "funds_total": pa.Column(object),
        "fund_percent_sum": pa.Column(object),
        "fund_count": pa.Column(int, checks=pa.Check.ge(1, error="a statement needs one fund share set")),
    },
    checks=[
        pa.Check(lambda df: ~df.duplicated(["pi_email", "project_id"], keep=False), name="one_statement_per_project",
                 error="two statements for one PI and project"),
        pa.Check(lambda df: df["billed_total"] == df["approved_billed"], name="total_equals_approved_charges",
                 error="the statement total differs from the approved charges of its PI and project"),
        pa.Check(lambda df: df["list_total"] - df["discount_total"] == df["billed_total"], name="list_minus_discount",
                 error="list - discount must equal billed"),
        pa.Check(lambda df: df["fund_billed_sum"] == df["funds_total"], name="fund_shares_sum_to_total",
                 error="the fund shares do not add up to the statement total"),
        pa.Check(lambda df: df["fund_percent_sum"] == HUNDRED, name="fund_shares_sum_to_100_percent",
                 error="the fund percentages do not add up to 100%"),
    ],
    strict=True,
    coerce=False,
)

FUND_SCHEMA = pa.DataFrameSchema(
    {
        "pi_email": pa.Column(object, nullable=True),
        "project_id": pa.Column(object),
        "fund_org": pa.Column(object, checks=pa.Check(_present, error="a fund share needs a fund name")),
        "percent": pa.Column(object, checks=pa.Check(_is_decimal, error="a percentage must be a Decimal")),
        "billed_total": pa.Column(object, checks=pa.Check(_is_decimal, error="money must be a Decimal")),
    },
    checks=[pa.Check(lambda df: ~df.duplicated(["pi_email", "project_id", "fund_org"], keep=False),
                     name="one_share_per_fund", error="a fund appears twice in one statement")],
    strict=True,
)


def _describe(exc: pa.errors.SchemaErrors, frame: pd.DataFrame, limit: int) -> list[str]:
    return describe_keyed_failures(
        exc, frame, limit, lambda row: f"PI {row['pi_email']!r}, project {row['project_id']!r}")


def gate_statements(statements: Sequence[Statement], approved: Mapping[tuple, Decimal], month_total: Decimal,
                    limit: int = 20) -> list[str]:
    """Every reason the statements must not be rendered (empty list: they may)."""
    problems: list[str] = []
    frame = statement_frame(statements, approved)
    funds = fund_frame(statements)
    for schema, data in ((STATEMENT_SCHEMA, frame), (FUND_SCHEMA, funds)):
        try:
            schema.validate(data, lazy=True)
        except pa.errors.SchemaErrors as exc:
            problems.extend(_describe(exc, data, limit))
    missing = set(approved) - {(s.pi_email, s.project_id) for s in statements}
    if missing:
        problems.append(f"approved charges without a statement: {sorted(missing, key=str)[:5]}")
    total = sum((s.billed_total for s in statements), ZERO)
    if total != month_total:
        problems.append(f"statements total {total} != approved charges {month_total} for the month")
    return problems[:limit]
