"""FOCUS facts and file-name rules, as plain functions (no Dagster, no database).

Column lists follow the FinOps FOCUS specification 1.0 to 1.4 (see shared/reference/focus.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ocb_pipelines.core.billing_month import month_key as month_key  # the one billing-month check, re-exported

# The specification's names live in core (the warehouse's focus_rows table needs them too); re-exported.
from ocb_pipelines.core.focus_columns import FOCUS_1_0 as FOCUS_1_0
from ocb_pipelines.core.focus_columns import (
    FOCUS_1_1_ADDED,
    FOCUS_1_2_ADDED,
    FOCUS_1_3_ADDED,
    FOCUS_1_4_ADDED,
    FOCUS_1_4_REMOVED,
    FOCUS_COLUMNS,
)

FOCUS_COLUMNS_BY_LOWER = {c.lower(): c for c in FOCUS_COLUMNS}

MONEY_COLUMNS = ("ListCost", "ContractedCost", "BilledCost", "EffectiveCost")
DECIMAL_COLUMNS = (
    *MONEY_COLUMNS, "ListUnitPrice", "ContractedUnitPrice", "PricingQuantity", "ConsumedQuantity",
    "CommitmentDiscountQuantity", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
)  # fmt: skip
DATETIME_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
JSON_COLUMNS = ("Tags", "SkuPriceDetails", "AllocatedTags", "AllocatedMethodDetails", "ContractApplied", "TagDetails",
                "CommitmentProgramEligibilityDetails")

# The columns a file must have for us to bill from it (FOCUS 1.0 mandatory core that chargeback uses).
# ProviderName may be replaced by ServiceProviderName (1.3+; 1.4 removes ProviderName); PublisherName is not needed
# to bill.
REQUIRED_COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
    "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd", "EffectiveCost", "ListCost", "ServiceName",
)  # fmt: skip

# Required columns a source's configuration may supply when its files lack them: OpenChargeback's importer reads
# a 12-column subset of FOCUS without them (ingest/legacy_layout.py says what each is filled with).
FILLABLE_COLUMNS = ("BillingAccountId", "BillingCurrency", "ChargeCategory", "ProviderName", "EffectiveCost")

ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "ChargeCategory": ("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
    "ChargeClass": ("Correction",),
    "ChargeFrequency": ("One-Time", "Recurring", "Usage-Based"),
    "PricingCategory": ("Standard", "Dynamic", "Committed", "Other"),
    "CommitmentDiscountStatus": ("Used", "Unused"),
    "CommitmentDiscountCategory": ("Spend", "Usage"),
    "CapacityReservationStatus": ("Used", "Unused"),
    "BillingPeriodStatus": ("Open", "Closed"),  # 1.4: Open rows are provisional (ingest/provisional.py)
    "ServiceCategory": (
        "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
        "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
        "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security", "Storage",
        "Web", "Other",
    ),
}  # fmt: skip

# Headers that identify well-known exports that are NOT FOCUS, so the refusal can say what the file is.
NON_FOCUS_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("an AWS Cost and Usage Report (CUR), not FOCUS",
     ("lineitem/unblendedcost", "lineitem/usageaccountid", "line_item_unblended_cost", "bill/billingperiodstartdate",
      "identity/lineitemid", "line_item_usage_account_id")),
    ("an Azure EA / cost-details export, not FOCUS",
     ("costinbillingcurrency", "meterid", "subscriptionguid", "metercategory", "instanceid", "extendedcost")),
    ("an OCI cost report, not FOCUS",
     ("lineitem/referenceno", "product/resourceid", "cost/mycost", "usage/billedquantity")),
    ("a GCP standard billing export, not FOCUS", ("billing_account_id", "cost_type", "usage_start_time")),
    ("a FOCUS 0.5 / 1.0-preview export (ChargeType, AmortizedCost); FOCUS 1.0 or later is required",
     ("chargetype", "amortizedcost")),
)  # fmt: skip
# FOCUS datasets that hold no charges: each is told by its own columns, and refused saying what it is, not as
# "not a FOCUS export". (An InvoiceDetail file is imported and compared with the month: ingest/invoices.py.)
OTHER_FOCUS_DATASETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("FOCUS 1.4's BillingPeriod dataset (each provider billing period and whether it is Open or Closed)",
     ("billingperiodstatus", "billingperiodcreated", "billingperiodlastupdated")),
    ("FOCUS 1.3's ContractCommitment dataset (the terms of commitments, not what was billed for them)",
     ("contractcommitmentid", "contractcommitmentcategory", "contractcommitmentperiodstart", "contractid")),
)  # fmt: skip

PERIOD_PATTERNS = (
    re.compile(r"(?<!\d)(20\d{2})-(0[1-9]|1[0-2])(?!\d)"),
    re.compile(r"(?<!\d)(20\d{2})_(0[1-9]|1[0-2])(?!\d)"),
    re.compile(r"(?<!\d)(20\d{2})(0[1-9]|1[0-2])(?!\d)"),
)
# OpenChargeback's quarter names: 2025-Q1, 2025_Q1, 2025Q1 (any case).
QUARTER_PATTERN = re.compile(r"(?<!\d)(20\d{2})[-_]?[Qq]([1-4])(?![0-9])")
SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".gz")


class NotFocusError(ValueError):
    """The file is not a FOCUS export we can bill from."""


@dataclass(frozen=True)
class ColumnFill:
    """A required column the file lacks, given a value by its source's configuration: a constant (`value`), or
    another column of the same row (`copy_of`). `rule` says where the value comes from, in words."""

    column: str
    value: str | None
    copy_of: str | None
    rule: str

    def as_json(self) -> dict[str, str | None]:
        return {"value": self.value, "copy_of": self.copy_of, "rule": self.rule}

    def describe(self) -> str:
        what = f"the row's {self.copy_of}" if self.copy_of else repr(self.value)
        return f"{self.column} = {what} ({self.rule})"


@dataclass(frozen=True)
class HeaderMapping:
    """How a file's header maps onto canonical FOCUS names."""

    focus: dict[str, str]  # canonical FOCUS name -> header as written in the file
    extra: dict[str, str]  # extra column name (x_*, oci_*, Id, ...) -> header as written
    version: str
    missing: tuple[str, ...] = ()  # FILLABLE_COLUMNS the file lacks (OpenChargeback's layout)
    fills: tuple[ColumnFill, ...] = field(default=())  # what the import fills them with (legacy_layout.py)

    @property
    def stored_columns(self) -> list[str]:
        """The canonical columns an import writes: the file's own, then the filled ones."""
        return [*self.focus, *(f.column for f in self.fills)]


def canonical_header(columns: Sequence[str]) -> HeaderMapping:
    """Match header names to FOCUS columns case-insensitively (and ignoring surrounding blanks).

    Raises NotFocusError when the file is a known non-FOCUS export, lacks the columns we bill from,
    or repeats a column. A file that lacks only FILLABLE_COLUMNS is mapped, with them in `missing`: whether
    they may be filled is its source's to say (ingest/legacy_layout.py), at import.
    """
    focus: dict[str, str] = {}
    extra: dict[str, str] = {}
    seen: dict[str, str] = {}
    for header in columns:
        key = header.strip().lstrip("\ufeff").lower()
        if key in seen:
            raise NotFocusError(f"column {header!r} appears twice (also as {seen[key]!r})")
        seen[key] = header
        if key in FOCUS_COLUMNS_BY_LOWER:
            focus[FOCUS_COLUMNS_BY_LOWER[key]] = header
        else:
            extra[header.strip().lstrip("\ufeff")] = header
    lowered = set(seen)
    missing = [c for c in REQUIRED_COLUMNS if c not in focus]
    if "ProviderName" not in focus and "ServiceProviderName" not in focus:
        missing.append("ProviderName (or ServiceProviderName)")
    fillable = ("ProviderName (or ServiceProviderName)", *FILLABLE_COLUMNS)
    unfillable = [c for c in missing if c not in fillable]
    if unfillable:
        for description, markers in NON_FOCUS_SIGNATURES:
            if sum(m in lowered for m in markers) >= 2:
                raise NotFocusError(f"this file looks like {description}; export FOCUS 1.0-1.4 instead")
        for dataset, markers in OTHER_FOCUS_DATASETS:
            if sum(m in lowered for m in markers) >= 2:
                raise NotFocusError(
                    f"this file is {dataset}, which holds no charges: ocb bills from the Cost and Usage dataset "
                    "(and compares InvoiceDetail files with it); give the provider's Cost and Usage export instead")
        # Most of the columns no configuration can supply are absent: some other kind of file.
        if len(unfillable) * 2 > len([c for c in REQUIRED_COLUMNS if c not in FILLABLE_COLUMNS]):
            raise NotFocusError(
                f"this file is not a FOCUS export: {len(missing)} required FOCUS columns are missing "
                f"({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''})"
            )
        raise NotFocusError(f"required FOCUS columns missing: {', '.join(missing)}")
    absent = tuple(c for c in FILLABLE_COLUMNS if c not in focus and not (
        c == "ProviderName" and "ServiceProviderName" in focus))
    return HeaderMapping(focus=focus, extra=extra, version=detect_version(focus), missing=absent)


def detect_version(columns: Iterable[str]) -> str:
    """The lowest FOCUS version whose marker columns are present (no file states its version). 1.4 is told by a
    column it added (InvoiceDetailId, BillingPeriodStatus, ...) or by ServiceProviderName without the ProviderName
    and PublisherName it removed."""
    present = set(columns)
    if present & set(FOCUS_1_4_ADDED) or ("ServiceProviderName" in present and not present & set(FOCUS_1_4_REMOVED)):
        return "1.4"
    if present & set(FOCUS_1_3_ADDED):
        return "1.3"
    if present & set(FOCUS_1_2_ADDED):
        return "1.2"
    if present & set(FOCUS_1_1_ADDED):
        return "1.1"
    return "1.0"


def file_format(path: str | Path) -> str:
    """'csv', 'csv.gz' or 'parquet' from the file name; ValueError for anything else."""
    name = Path(path).name.lower()
    if name.endswith((".parquet", ".pq", ".snappy.parquet")):
        return "parquet"
    if name.endswith((".csv.gz", ".gz")):
        return "csv.gz"
    if name.endswith(".csv"):
        return "csv"
    raise ValueError(f"{Path(path).name}: unsupported file type (expected .csv, .csv.gz or .parquet)")


def is_supported_file(path: str | Path) -> bool:
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(SUPPORTED_SUFFIXES)


def period_from_filename(name: str) -> str | None:
    """`YYYY-MM`, `YYYY_MM` or `YYYYMM` in a file name, as `YYYY-MM`; None when absent."""
    stem = Path(name).name
    for pattern in PERIOD_PATTERNS:
        match = pattern.search(stem)
        if match:
            return f"{match.group(1)}-{match.group(2)}"
    return None


def quarter_from_filename(name: str) -> tuple[str, tuple[str, ...]] | None:
    """(`YYYY-Q#` in canonical form, its three months) when the file name names a quarter and no month;
    else None. A month in the name wins: it is the more precise of the two."""
    stem = Path(name).name
    if period_from_filename(stem):
        return None
    match = QUARTER_PATTERN.search(stem)
    if not match:
        return None
    year, quarter = match.group(1), int(match.group(2))
    months = tuple(f"{year}-{m:02d}" for m in range(quarter * 3 - 2, quarter * 3 + 1))
    return f"{year}-Q{quarter}", months


def months_named_in(name: str) -> tuple[str, ...]:
    """The billing months a file name names: its `YYYY-MM`, the three months of its `YYYY-Q#`, or none."""
    month = period_from_filename(name)
    if month:
        return (month,)
    quarter = quarter_from_filename(name)
    return quarter[1] if quarter else ()


def expected_month(name: str, month: str) -> str | None:
    """The month a file's name says its rows of `month` belong to (None: the name says nothing). A quarter name
    (`hpc_2025-Q1.csv`, OpenChargeback's) expects its rows in any of the quarter's months: a row of one of them is
    where it should be; a row outside the quarter is expected in its first month (so it is flagged
    period_mismatch, as under a month name)."""
    months = months_named_in(name)
    if not months:
        return None
    return month if month in months else months[0]


def source_from_filename(name: str, patterns: Sequence[tuple[str, str]]) -> str | None:
    """The known source whose pattern appears in the file name (case-insensitive, longest pattern wins).

    `patterns` is a sequence of (source name, pattern) pairs from `imports.known_sources`.
    """
    lowered = Path(name).name.lower()
    best: tuple[int, str] | None = None
    for source, pattern in patterns:
        needle = (pattern or source).lower()
        if needle and needle in lowered and (best is None or len(needle) > best[0]):
            best = (len(needle), source)
    return best[1] if best else None


def sha256_file(path: str | Path, chunk: int = 4 * 1024 * 1024) -> str:
    return sha256_and_nul(path, chunk)[0]


def sha256_and_nul(path: str | Path, chunk: int = 4 * 1024 * 1024) -> tuple[str, bool]:
    """The file's sha256, and whether it holds a NUL byte (found in the same read, at memchr speed)."""
    digest = hashlib.sha256()
    nul = False
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            nul = nul or b"\x00" in block
    return digest.hexdigest(), nul


def utc_literal_sql(value: str) -> str:
    """SQL test that a FOCUS date/time text carries no UTC offset (`...Z`, or no zone at all), so it reads as
    UTC without a time-zone-aware parse. `2025-02-01T00:00+01` is 19 characters too: its offset is looked for."""
    tail = f"substr({value}, 11)"
    return (f"({value} LIKE '%Z' OR (length({value}) IN (10, 16, 19) AND NOT contains({tail}, '+') "
            f"AND NOT contains({tail}, '-')))")


def utc_timestamp_sql(value: str) -> str:
    """SQL: the UTC TIMESTAMP of a FOCUS date/time text. A UTC literal takes the plain cast; only a value with an
    offset pays for the time-zone-aware parse (the plain cast would drop its offset)."""
    return (f"CASE WHEN {utc_literal_sql(value)} THEN TRY_CAST({value} AS TIMESTAMP) "
            f"ELSE TRY_CAST({value} AS TIMESTAMPTZ)::TIMESTAMP END")
