"""Money helpers: exact Decimal arithmetic and display, never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def to_cents(amount: Decimal | int | str | None) -> Decimal:
    """Round to cents, half to even (banker's rounding, the usual ledger rule)."""
    return Decimal(amount or 0).quantize(CENT, rounding=ROUND_HALF_EVEN)


def cents_int(amount: Decimal | int | str | None) -> int:
    """Whole cents as an int: an exact number Dagster can plot."""
    return int(to_cents(amount) * 100)


def format_money(amount: Decimal | int | str | None, symbol: str = "$", code: str = "") -> str:
    """`$1,234.56` / `-$3.00`, with the configured symbol (and code when given)."""
    value = to_cents(amount)
    sign = "-" if value < 0 else ""
    text = f"{sign}{symbol}{abs(value):,.2f}"
    return f"{text} {code}".rstrip()


def exact_text(amount: Decimal | int | str | None) -> str:
    """An amount as exact plain text for JSON and the audit log: every digit kept, never an exponent
    (DuckDB's zero at scale 12 is Decimal('0E-12'), which str() writes as `0E-12`)."""
    value = Decimal(0 if amount is None else amount)
    return format(abs(value) if value == 0 else value, "f")
