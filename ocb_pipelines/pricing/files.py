"""The pricing files finance edits in a spreadsheet: rates, fixed fees and Slurm accounts (no Dagster).

Each reader returns checked lines or raises PricingFileError naming the file, line, column and value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


class PricingFileError(ValueError):
    """A pricing file was refused; the message names the file, line, column and value."""


@dataclass(frozen=True)
class RateLine:
    """One rate: a unit's list and billed price for a source and service, dated, optionally tiered and by group."""

    line: int
    source: str
    service_name: str  # "*": any service (Slurm partition) without a line of its own
    unit: str
    list_unit_price: Decimal
    billed_unit_price: Decimal
    valid_from: date
    valid_to: date | None  # inclusive; None: open-ended
    tier_from: Decimal = Decimal(0)  # inclusive, in the unit, per project per month
    tier_to: Decimal | None = None  # exclusive; None: no end
    group: str = ""  # "": the default for any group without a line of its own


@dataclass(frozen=True)
class FeeLine:
    """A fixed recurring fee of a project (co-location, a support contract, an allocation)."""

    line: int
    project_id: str
    service_name: str
    amount: Decimal
    frequency: str  # monthly | quarterly | yearly | once
    valid_from: date
    valid_to: date | None  # inclusive
    source: str = "fees"


@dataclass(frozen=True)
class AccountLine:
    """A Slurm account (or storage project) and who pays for it."""

    line: int
    account: str
    pi_email: str
    project_id: str
    fund_org: str
    group: str = ""
