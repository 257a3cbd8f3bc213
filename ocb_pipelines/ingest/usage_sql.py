"""SQL pieces the usage readers (sacct.py, storage_report.py) share: text columns, exact numbers, line problems.

Numbers are checked against a pattern before they are cast, so a cast never rounds or silently fails; ratios
(seconds to hours, MB to GB, bytes to TB) are exact decimal or integer arithmetic rounded once, half up, at the
warehouse's money scale: no float touches a quantity.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocb_pipelines.warehouse.schema.columns import MONEY

USAGE_NUMBER = MONEY  # DECIMAL(38, 12): quantities are stored at the scale money is
# A number of 0 or more, at most 12 decimals (the scale above: nothing is rounded); no sign, no exponent.
NUMBER_PATTERN = "[0-9]{1,20}(\\.[0-9]{1,12})?"


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def text_column(name: str | None) -> str:
    """SQL: a file column's text, trimmed, NULL when empty; NULL when the file has no such column."""
    return f"nullif(trim({quote_ident(name)}), '')" if name else "CAST(NULL AS VARCHAR)"


def problem_case(problems: Sequence[tuple[str, str, str, str]]) -> str:
    """SQL: the first problem of a line as a struct (column, value, problem), NULL when none. Each problem is
    (condition, the column as a person knows it, the SQL of the value shown, what is wrong)."""
    branches = " ".join(
        f"WHEN {condition} THEN {{'column': {sql_text(column)}, 'value': CAST({value} AS VARCHAR), "
        f"'problem': {sql_text(text)}}}"
        for condition, column, value, text in problems
    )
    return f"CASE {branches} END"
