"""Small builders of DuckDB SQL text shared by the query: literals, lists, templates, output rendering."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal

from ocb_pipelines.core.billing_month import BillingMonth
from tools.sample_data.columns import _MONEY_COLUMNS, _QUANTITY_COLUMNS, _TIME_COLUMNS

# --------------------------------------------------------------------------------------------------
# SQL building helpers
# --------------------------------------------------------------------------------------------------

_SCALE = 10**10  # money unit: 1e-10 USD
_QSCALE = 10**6  # quantity unit: 1e-6


def _s(value: str | None) -> str:
    """SQL string literal (or NULL)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _str_list(values: Sequence[str | None]) -> str:
    return "([" + ", ".join(_s(v) for v in values) + "]::VARCHAR[])"


def _int_list(values: Sequence[int]) -> str:
    return "([" + ", ".join(str(int(v)) for v in values) + "]::BIGINT[])"


def _scaled(value: str, scale: int) -> int:
    scaled = Decimal(value) * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more fractional digits than the scale allows")
    return int(scaled)


def _sku_id(*parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest().upper()
    return "".join(c for c in digest if c.isalnum())[:14]


_PLACEHOLDERS = {
    "{proj}": "proj",
    "{projc}": "replace(proj, '-', '')",
    "{projus}": "replace(proj, '-', '_')",
    "{sub}": "sub_id",
    "{region}": "coalesce(region_id, '')",
    "{zone}": "coalesce(zone, '')",
    "{hex}": "hex16",
    "{hex8}": "left(hex16, 8)",
    "{n}": "CAST(r AS VARCHAR)",
    "{job}": "CAST(100000 + r * 3 + hr5 % 3 AS VARCHAR)",
    "{jobname}": "jobname",
    "{subdir}": "subdir",
}


def _template(array_sql: str, templates: Sequence[str | None], index: str = "p") -> str:
    """SQL expression applying the placeholder replacements used by ``templates`` to ``array[index]``."""
    expr = f"{array_sql}[{index}]"
    used = {ph for t in templates if t for ph in _PLACEHOLDERS if ph in t}
    for ph in sorted(used):
        expr = f"replace({expr}, '{ph}', {_PLACEHOLDERS[ph]})"
    return expr


def _month_bounds(month: str) -> tuple[int, int, int, int]:
    """(year, month, next year, next month) of a `YYYY-MM` (core.billing_month's rule, BillingMonthError else)."""
    this = BillingMonth.parse(month)
    after = this.next()
    return this.year, this.month, after.year, after.month



def _bool_list(values: Sequence[bool]) -> str:
    return "[" + ", ".join("true" if v else "false" for v in values) + "]"


def _render(name: str, expr: str, parquet: bool) -> str:
    """Wrap an internal value so it is written in the target format's representation."""
    if name in _MONEY_COLUMNS:
        dec = f"(CAST({expr} AS DECIMAL(18, 0)) * CAST(0.0000000001 AS DECIMAL(18, 10)))"
        return f"CAST({dec} AS DECIMAL(38, 10))" if parquet else f"ocb_trim({dec})"
    if name in _QUANTITY_COLUMNS:
        dec = f"(CAST({expr} AS DECIMAL(18, 0)) * CAST(0.000001 AS DECIMAL(18, 6)))"
        return f"CAST({dec} AS DECIMAL(38, 10))" if parquet else f"ocb_trim({dec})"
    if name in _TIME_COLUMNS:
        if parquet:
            return f"timezone('UTC', {expr})"
        return f"strftime({expr}, '%Y-%m-%dT%H:%M:%SZ')"
    if name == "Tags" and parquet:
        return f"CAST(CAST({expr} AS JSON) AS MAP(VARCHAR, VARCHAR))"
    return f"CAST({expr} AS VARCHAR)"
