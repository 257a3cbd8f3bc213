"""The FOCUS specification's column names, 1.0 to 1.4 (see shared/reference/focus.md).

A fact of the specification, kept in core because two layers need it: the warehouse's `focus_rows` table has
one column per name, and ingest reads files by them.
"""

from __future__ import annotations

FOCUS_1_0 = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
)  # fmt: skip
FOCUS_1_1_ADDED = (
    "CapacityReservationId", "CapacityReservationStatus", "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit", "ServiceSubcategory", "SkuMeter", "SkuPriceDetails",
)  # fmt: skip
FOCUS_1_2_ADDED = (
    "BillingAccountType", "SubAccountType", "InvoiceId", "PricingCurrency",
    "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice",
)  # fmt: skip
FOCUS_1_3_ADDED = (
    "AllocatedMethodDetails", "AllocatedMethodId", "AllocatedResourceId", "AllocatedResourceName",
    "AllocatedTags", "ContractApplied", "ServiceProviderName", "HostProviderName",
)  # fmt: skip

# 1.4 (Cost and Usage): InvoiceDetailId links a row to its InvoiceDetail line, TagDetails and
# CommitmentProgramEligibilityDetails are JSON. BillingPeriodStatus (Open/Closed) belongs to the BillingPeriod
# dataset; a cost file that carries it on its rows says which rows are still provisional (Open).
# 1.4 also removes ProviderName and PublisherName (ServiceProviderName and HostProviderName stand for them); they
# stay in FOCUS_COLUMNS for the files of 1.0 to 1.3.
FOCUS_1_4_ADDED = ("BillingPeriodStatus", "CommitmentProgramEligibilityDetails", "InvoiceDetailId", "TagDetails")
FOCUS_1_4_REMOVED = ("ProviderName", "PublisherName")

# The columns of a warehouse made before 1.4 (its focus_rows gains the 1.4 ones when upgraded).
FOCUS_COLUMNS_1_3: tuple[str, ...] = FOCUS_1_0 + FOCUS_1_1_ADDED + FOCUS_1_2_ADDED + FOCUS_1_3_ADDED
FOCUS_COLUMNS: tuple[str, ...] = FOCUS_COLUMNS_1_3 + FOCUS_1_4_ADDED
