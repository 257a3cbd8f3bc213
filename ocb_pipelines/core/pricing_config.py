"""The `pricing:` and `funding:` sections: rate, fee, account and split files, and subsidy rules.

The files are CSVs finance edits in a spreadsheet (read and checked by ocb_pipelines/pricing/files.py); the
subsidy rules live here because each is a decision of policy with an id that statements name.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _exact(value: Any) -> Any:
    """YAML reads 12.5 as a float: take the digits as written (repr is the shortest round trip), never the binary."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


class SubsidyRule(BaseModel):
    """One subsidy rule. Rules apply to the charges priced from the rates and fees, in this order of kind:
    allowance, percent, cap, credit; each applied rule is its own credit line that names the rule's id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["allowance", "percent", "cap", "credit"]
    description: str = ""
    sources: list[str] = Field(default_factory=list)  # empty: every priced source
    service_name: str = ""  # allowance: only this service (empty: any)
    unit: str = ""  # allowance: the quantity's unit (core-hour, TB-month, ...), required
    per: Literal["project", "pi"] = "project"  # allowance and cap: per project or per PI, per month
    quantity: Decimal | None = Field(None, gt=0)  # allowance: the free quantity per month
    percent: Decimal | None = Field(None, gt=0, le=100)  # percent: share of the billed amount paid by the subsidy
    group: str = ""  # percent: the accounts file's group it applies to (empty: every group)
    amount: Decimal | None = Field(None, gt=0)  # cap: the most billed per month; credit: the credit's total
    pi_email: str = ""  # credit: whose credit it is (required); others: only this PI (empty: any)
    project_id: str = ""  # only this project (empty: any)
    valid_from: str | None = Field(None, pattern=_MONTH)  # first month the rule applies (YYYY-MM)
    valid_to: str | None = Field(None, pattern=_MONTH)  # last month it applies, inclusive

    _to_decimal = field_validator("quantity", "percent", "amount", mode="before")(_exact)

    @model_validator(mode="after")
    def _what_each_kind_needs(self) -> SubsidyRule:
        needs = {"allowance": ("quantity", "unit"), "percent": ("percent",), "cap": ("amount",),
                 "credit": ("amount", "pi_email")}[self.kind]
        missing = [name for name in needs if getattr(self, name) in (None, "")]
        if missing:
            raise ValueError(f"subsidy rule {self.id!r} ({self.kind}) needs {', '.join(missing)}")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError(f"subsidy rule {self.id!r}: valid_to {self.valid_to} is before {self.valid_from}")
        return self

    def applies_in(self, month: str) -> bool:
        return (not self.valid_from or self.valid_from <= month) and (not self.valid_to or month <= self.valid_to)


class PricingSettings(BaseModel):
    """Where the rates, fees and Slurm account mappings are; the subsidy rules. All optional: without a rates
    file, usage sources (sacct, storage reports) cannot be priced and their import is refused."""

    model_config = ConfigDict(extra="forbid")

    rates_file: Path | None = None
    fees_file: Path | None = None
    accounts_file: Path | None = None
    subsidies: list[SubsidyRule] = Field(default_factory=list)

    @field_validator("subsidies")
    @classmethod
    def _unique_ids(cls, rules: list[SubsidyRule]) -> list[SubsidyRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id.lower() in seen:
                raise ValueError(f"subsidy rule ids must be unique; repeated: {rule.id!r}")
            seen.add(rule.id.lower())
        return rules


class FundingSettings(BaseModel):
    """Split funding: a project's approved charges shared between funds by percentage (pricing/files.py reads it)."""

    model_config = ConfigDict(extra="forbid")

    splits_file: Path | None = None
