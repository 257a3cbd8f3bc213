"""Pandera schemas: the last gate in front of a journal file (no Dagster).

Amounts are integer cents in a nullable Int64 column (never float). The gl schema checks what the
ledger import relies on: debit xor credit on every line, positive amounts, an account (matching
`journal.account_code_regex` when set), the fund components of `journal.fund_org_regex` present,
descriptions within the configured length, and the whole frame balanced.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pandera.pandas as pa

from ocb_pipelines.core import patterns
from ocb_pipelines.ledger.journal import Journal

INT = pd.Int64Dtype()


def _present(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str).str.strip() != ""


def gl_frame(journal: Journal) -> pd.DataFrame:
    data: dict[str, object] = {
        "side": [x.side for x in journal.lines],
        "party": [x.party for x in journal.lines],
        "source": [x.source for x in journal.lines],
        "fund_org": [x.fund_org for x in journal.lines],
        "account": [x.account for x in journal.lines],
        "debit_cents": pd.array([x.amount_cents if x.side == "debit" else None for x in journal.lines], dtype=INT),
        "credit_cents": pd.array([x.amount_cents if x.side == "credit" else None for x in journal.lines], dtype=INT),
        "description": [x.description for x in journal.lines],
        "reference_id": [x.reference_id for x in journal.lines],
    }
    for name in journal.component_names:
        data[f"c_{name}"] = [x.components.get(name, "") for x in journal.lines]
    return pd.DataFrame(data)


def gl_schema(required_components: Sequence[str], account_regex: str, max_description: int) -> pa.DataFrameSchema:
    columns = {
        "side": pa.Column(str, checks=pa.Check.isin(["debit", "credit"])),
        "party": pa.Column(str, checks=pa.Check.isin(["pi", "source"])),
        "source": pa.Column(str, checks=pa.Check(_present, error="a line needs its source")),
        "fund_org": pa.Column(str, checks=pa.Check(_present, error="a line needs a fund_org")),
        "account": pa.Column(str, checks=[
            pa.Check(_present, error="a line needs an account"),
            *([pa.Check(lambda s: s.map(lambda v: patterns.full_match(account_regex, v)).astype(bool),
                        error=f"account must match journal.account_code_regex {account_regex!r}")]
              if account_regex else []),
        ]),
        "debit_cents": pa.Column(INT, nullable=True, checks=pa.Check.gt(0, error="amounts are positive")),
        "credit_cents": pa.Column(INT, nullable=True, checks=pa.Check.gt(0, error="amounts are positive")),
        "description": pa.Column(str, checks=pa.Check(
            lambda s: s.str.len() <= max_description, error=f"description longer than {max_description}")),
        "reference_id": pa.Column(str),
        **{f"c_{name}": pa.Column(str, checks=pa.Check(_present, error=f"fund component {name!r} missing"))
           for name in required_components},
    }  # fmt: skip
    return pa.DataFrameSchema(
        columns,
        checks=[
            pa.Check(lambda df: df["debit_cents"].notna() ^ df["credit_cents"].notna(), name="debit_xor_credit",
                     error="each line has a debit or a credit, never both or neither"),
            pa.Check(lambda df: (df["side"] == "debit") == df["debit_cents"].notna(), name="side_matches_column",
                     error="the side says which column holds the amount"),
            pa.Check(lambda df: int(df["debit_cents"].sum()) == int(df["credit_cents"].sum()), name="balanced",
                     error="debits must equal credits"),
        ],
        strict=False,
        coerce=False,
    )


def listing_frame(journal: Journal) -> pd.DataFrame:
    return pd.DataFrame({
        "period": [r["period"] for r in journal.rows],
        "amount_cents": pd.array([r["amount_cents"] for r in journal.rows], dtype=INT),
        **({"charge_id": [r["charge_id"] for r in journal.rows]} if journal.format == "standard" else {}),
    })  # fmt: skip


def listing_schema(journal: Journal) -> pa.DataFrameSchema:
    columns = {
        "period": pa.Column(str, checks=pa.Check.eq(journal.period)),
        "amount_cents": pa.Column(INT, nullable=False),
    }
    if journal.format == "standard":
        columns["charge_id"] = pa.Column(str, unique=True)
    total = int(journal.approved_total * 100)
    return pa.DataFrameSchema(columns, checks=[pa.Check(lambda df: int(df["amount_cents"].sum()) == total,
                                                        name="sums_to_approved_total",
                                                        error=f"lines must sum to the approved total {total} cents")])


def gate_problems(journal: Journal, required_components: Sequence[str], account_regex: str,
                  max_description: int, limit: int = 20) -> list[str]:
    """Every schema failure as 'line N, column C, value V: check' (empty list: the journal may be written)."""
    if journal.format == "gl":
        frame, schema = gl_frame(journal), gl_schema(required_components, account_regex, max_description)
    else:
        frame, schema = listing_frame(journal), listing_schema(journal)
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        problems = []
        for _, case in cases.head(limit).iterrows():
            index = case.get("index")
            where = f"line {int(index) + 1}" if pd.notna(index) else "journal"
            column = case.get("column") if pd.notna(case.get("column")) else ""
            problems.append(f"{where}{', column ' + str(column) if column else ''}: "
                            f"{case.get('check')} (value {case.get('failure_case')!r})")
        return problems or [str(exc)]
    return []
