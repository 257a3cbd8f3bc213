"""The FOCUS columns the generator writes, per FOCUS version, and how each kind of column is rendered."""

from __future__ import annotations

from ocb_pipelines.ingest.focus import FOCUS_1_0, FOCUS_1_1_ADDED, FOCUS_1_2_ADDED, FOCUS_1_3_ADDED

FOCUS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
FORMATS = ("csv", "csv.gz", "parquet")
SOURCES = ("aws", "azure", "gcp", "hpc", "storage")
TAG_KEYS = ("pi_email", "project_id", "fund_org", "cost_center", "account_code", "grant_number", "request_id")

# --------------------------------------------------------------------------------------------------
# FOCUS column sets (FOCUS_Spec tags v1.0 / v1.1 / v1.2, plus the 8 columns added in 1.3)
# --------------------------------------------------------------------------------------------------

_ADDED = {"1.0": FOCUS_1_0, "1.1": FOCUS_1_1_ADDED, "1.2": FOCUS_1_2_ADDED, "1.3": FOCUS_1_3_ADDED}

_MONEY_COLUMNS = frozenset(
    {
        "BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "ContractedUnitPrice", "ListUnitPrice",
        "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice",
    }
)  # fmt: skip
_QUANTITY_COLUMNS = frozenset({"ConsumedQuantity", "PricingQuantity", "CommitmentDiscountQuantity"})
_TIME_COLUMNS = frozenset({"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"})


def focus_columns(version: str) -> list[str]:
    """Return the FOCUS column names of ``version`` (43/50/57/65 columns), in export order (A-Z)."""
    if version not in FOCUS_VERSIONS:
        raise ValueError(f"unknown FOCUS version {version!r}; expected one of {FOCUS_VERSIONS}")
    cols: list[str] = []
    for v in FOCUS_VERSIONS[: FOCUS_VERSIONS.index(version) + 1]:
        cols.extend(_ADDED[v])
    return sorted(cols)
