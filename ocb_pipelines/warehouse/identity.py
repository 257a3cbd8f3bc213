"""The ids a charge line is known by, as DuckDB SQL over its raw row (engine SQL: no Dagster, no domain).

These formulas are pinned: review decisions stored in a warehouse refer to `charge_id` and `row_hash`, so a
change here would orphan every decision already made.

- `charge_id`: the line's identity (account, resource, SKU, charge period, ...) and its occurrence among
  identical lines. It survives a re-import of the same data, and a corrected amount keeps it.
- `row_hash`: the identity plus what a review decision is about (amounts, tags, names). A decision pinned to
  an older row_hash goes back to review. Only decided and exported lines need it, so it is worked out when
  read (the charges_validated view), not stored for every line: it was a fifth of validation's time.

They live in the warehouse because its charges_validated view computes row_hash; charges/identity.py
builds `charge_id` from the same identity.
"""

from __future__ import annotations

SEPARATOR = "chr(31)"
# Columns that identify a charge line (not its amounts).
IDENTITY_COLUMNS = (
    "BillingAccountId", "SubAccountId", "ResourceId", "ChargeCategory", "ChargeClass", "ServiceName", "SkuId",
    "SkuPriceId", "ChargePeriodStart", "ChargePeriodEnd", "PricingUnit", "ChargeDescription", "CommitmentDiscountId",
)  # fmt: skip
# What a review decision is about, beyond the identity: the amounts, the tags it was attributed by and the
# names a statement shows.
CONTENT_COLUMNS = (
    "BilledCost", "ListCost", "ContractedCost", "EffectiveCost", "PricingQuantity", "BillingCurrency", "Tags",
    "ResourceName", "ResourceType", "SubAccountName", "ServiceCategory", "RegionId", "RegionName",
    "BillingPeriodStart", "BillingPeriodEnd",
)  # fmt: skip


def _column(prefix: str, name: str) -> str:
    return f'{prefix}"{name}"'


def x_charge_id_sql(prefix: str = "") -> str:
    """An x_ChargeId (or OCI's reference number) tells a line apart from identical twins. Most files have
    neither: a text test spares parsing every line's extras."""
    extras = f"{prefix}x_columns"
    return (
        f"CASE WHEN contains(CAST({extras} AS VARCHAR), 'x_ChargeId') "
        f"OR contains(CAST({extras} AS VARCHAR), 'oci_ReferenceNumber') "
        f"THEN coalesce(json_extract_string({extras}, '$.x_ChargeId'), "
        f"json_extract_string({extras}, '$.oci_ReferenceNumber'), chr(0)) ELSE chr(0) END"
    )


def identity_values_sql(prefix: str = "") -> str:
    """The line's identity as SQL values: source, billing month, the identity columns, its x_ChargeId."""
    identity = ", ".join(f"coalesce({_column(prefix, c)}, chr(0))" for c in IDENTITY_COLUMNS)
    return f"{prefix}source, {prefix}billing_month, {identity}, {x_charge_id_sql(prefix)}"


def identity_hash_sql(prefix: str = "") -> str:
    return f"md5(concat_ws({SEPARATOR}, {identity_values_sql(prefix)}))"


def charge_id_sql(identity_hash: str, occurrence: str) -> str:
    """A line's charge_id: its identity hash and its occurrence among identical lines (charges/identity.py)."""
    return f"substr(md5({identity_hash} || {SEPARATOR} || CAST({occurrence} AS VARCHAR)), 1, 20)"


def row_hash_sql(prefix: str = "") -> str:
    """The row_hash of a raw row (`prefix` qualifies its columns: focus_rows plus its import's source)."""
    content = ", ".join(f"coalesce({_column(prefix, c)}, chr(0))" for c in CONTENT_COLUMNS)
    return f"md5(concat_ws({SEPARATOR}, {identity_hash_sql(prefix)}, {content}))"
