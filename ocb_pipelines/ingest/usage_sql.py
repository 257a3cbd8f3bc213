"""SQL pieces the usage readers (sacct.py, storage_report.py) share: text columns, exact numbers, line problems.

Numbers are checked against a pattern before they are cast, so a cast never rounds or silently fails, and ratios
(seconds to hours, KiB to GB, bytes to TB) are computed in integers of 10^-12 and rounded once, half up, at the
warehouse's money scale: no float touches a quantity.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocb_pipelines.warehouse.schema.columns import MONEY

USAGE_NUMBER = MONEY  # DECIMAL(38, 12): quantities are stored at the scale money is
SCALE = 10**12
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


def micro_units(text_sql: str) -> str:
    """SQL: a decimal text already checked against NUMBER_PATTERN, as a HUGEINT count of 10^-12 (exact)."""
    return (f"(TRY_CAST(split_part({text_sql}, '.', 1) AS HUGEINT) * {SCALE} + "
            f"TRY_CAST(rpad(split_part({text_sql}, '.', 2), 12, '0') AS HUGEINT))")


def exact_ratio(micro_sql: str, divisor: int) -> str:
    """SQL: a HUGEINT count of 10^-12 divided by a positive whole number, as DECIMAL(38, 12) rounded half up."""
    return (f"(CAST(({micro_sql} + {divisor // 2}) // {divisor} AS DECIMAL(38, 0)) "
            f"* CAST('0.000000000001' AS DECIMAL(13, 12)))")


def problem_case(problems: Sequence[tuple[str, str, str, str]]) -> str:
    """SQL: the first problem of a line as a struct (column, value, problem), NULL when none. Each problem is
    (condition, the column as a person knows it, the SQL of the value shown, what is wrong)."""
    branches = " ".join(
        f"WHEN {condition} THEN {{'column': {sql_text(column)}, 'value': CAST({value} AS VARCHAR), "
        f"'problem': {sql_text(text)}}}"
        for condition, column, value, text in problems
    )
    return f"CASE {branches} END"
