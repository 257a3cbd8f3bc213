"""Priced charges as FOCUS rows: one typed TEMP table that usage, fees and subsidy credits fill, one INSERT into
`focus_rows` that writes it as the text a FOCUS file would hold.

Written under the import key and line number each charge came from, so charges_validated, review, statements
and lineage treat a priced charge exactly as a row of an imported FOCUS file. Amounts stay exact (MONEY,
DECIMAL(38, 12)) until written as plain decimal text (no exponent, trailing zeros dropped).
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.core.review_reasons import sql_literal
from ocb_pipelines.pricing.inputs import PricingInputs
from ocb_pipelines.warehouse.database import MONEY
from ocb_pipelines.warehouse.schema.columns import NARROW_MONEY

CHARGES_TABLE = "pricing_charges"

CHARGES_DDL = f"""CREATE OR REPLACE TEMP TABLE {CHARGES_TABLE} (
    import_key INTEGER, file_row_number BIGINT, source VARCHAR, file_name VARCHAR, kind VARCHAR,
    account VARCHAR, pi_email VARCHAR, project_id VARCHAR, fund_org VARCHAR, group_key VARCHAR,
    service_name VARCHAR, service_category VARCHAR, resource_id VARCHAR, resource_name VARCHAR,
    resource_type VARCHAR, description VARCHAR, charge_start TIMESTAMP, charge_end TIMESTAMP, order_at TIMESTAMP,
    category VARCHAR, frequency VARCHAR, pricing_unit VARCHAR, pricing_quantity {MONEY},
    list_unit_price {MONEY}, billed_unit_price {MONEY}, list_cost {MONEY}, billed_cost {MONEY}, x_columns JSON
)"""


# Every column of pricing_charges, in order: what fees and subsidy credit lines insert (pricing.bulk.insert_rows).
CHARGES_INSERT_TARGET = (
    f"{CHARGES_TABLE} (import_key, file_row_number, source, file_name, kind, account, pi_email, project_id, "
    "fund_org, group_key, service_name, service_category, resource_id, resource_name, resource_type, description, "
    "charge_start, charge_end, order_at, category, frequency, pricing_unit, pricing_quantity, list_unit_price, "
    "billed_unit_price, list_cost, billed_cost, x_columns)"
)


def create_charges_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(CHARGES_DDL)


def money_text(value: str) -> str:
    """SQL: an amount as plain decimal text, trailing zeros dropped (MONEY always has a point, so `10.0...` ends
    as `10` and zero as `0`). An amount under a million is written through the 64-bit DECIMAL(18, 12), the same
    digits at a third of the 128-bit cast's cost (money_from_text does the same the other way)."""
    text = (f"CASE WHEN abs({value}) < 1000000 THEN CAST(CAST({value} AS {NARROW_MONEY}) AS VARCHAR) "
            f"ELSE CAST({value} AS VARCHAR) END")
    return f"rtrim(rtrim({text}, '0'), '.')"


def json_value(value: str) -> str:
    """SQL: a value as JSON text, SQL NULL as `null` (to_json(NULL) is NULL, which would blank a whole object)."""
    return f"coalesce(to_json({value}), 'null')"


def timestamp_text(value: str) -> str:
    return f"strftime({value}, '%Y-%m-%dT%H:%M:%SZ')"


def tags_sql(inputs: PricingInputs) -> str:
    """SQL: the Tags JSON of a charge: only the attribution it has (an unmapped account: none, so validation
    sends it to review), under the config's tag_mapping keys."""
    parts = []
    for field in ("pi_email", "project_id", "fund_org"):
        key = inputs.tag_keys.get(field, "")
        if key:
            pair = f"to_json({sql_literal(key)}) || ':' || to_json({field})"
            parts.append(f"CASE WHEN {field} IS NOT NULL THEN {pair} END")
    if not parts:
        return "CAST(NULL AS VARCHAR)"
    return f"nullif('{{' || concat_ws(',', {', '.join(parts)}) || '}}', '{{}}')"


def provider_sql(inputs: PricingInputs) -> str:
    """SQL: the source's display name (imports.known_sources), else the source's name."""
    cases = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in sorted(inputs.providers.items()))
    return f"CASE lower(source) {cases} ELSE source END" if cases else "source"


def write_focus_rows(con: duckdb.DuckDBPyConnection, month: str, inputs: PricingInputs,
                     charges: str = CHARGES_TABLE) -> None:
    """Insert the charges (a table or SELECT with pricing_charges' columns) into focus_rows as FOCUS text. Each text
    is made once and copied where FOCUS repeats it (BilledCost = EffectiveCost = ContractedCost: billed is what
    was contracted)."""
    start = f"{month}-01T00:00:00Z"
    year, mon = int(month[:4]), int(month[5:])
    end = f"{year + (mon == 12)}-{mon % 12 + 1:02d}-01T00:00:00Z"
    relation = charges if charges.isidentifier() else f"({charges})"
    con.execute(f"""
        INSERT INTO focus_rows BY NAME
        SELECT {sql_literal(month)} AS billing_month, import_key, file_row_number,
            source AS "BillingAccountId", provider AS "BillingAccountName",
            {sql_literal(inputs.currency)} AS "BillingCurrency",
            {sql_literal(start)} AS "BillingPeriodStart", {sql_literal(end)} AS "BillingPeriodEnd",
            category AS "ChargeCategory", frequency AS "ChargeFrequency", description AS "ChargeDescription",
            charge_start_text AS "ChargePeriodStart", charge_end_text AS "ChargePeriodEnd",
            quantity_text AS "PricingQuantity", pricing_unit AS "PricingUnit",
            CASE WHEN kind = 'usage' THEN quantity_text END AS "ConsumedQuantity",
            CASE WHEN kind = 'usage' THEN pricing_unit END AS "ConsumedUnit",
            'Standard' AS "PricingCategory", list_price_text AS "ListUnitPrice",
            billed_price_text AS "ContractedUnitPrice", list_text AS "ListCost", billed_text AS "ContractedCost",
            billed_text AS "BilledCost", billed_text AS "EffectiveCost",
            provider AS "ProviderName", provider AS "ServiceProviderName", provider AS "InvoiceIssuerName",
            provider AS "PublisherName", service_name AS "ServiceName", service_category AS "ServiceCategory",
            resource_id AS "ResourceId", resource_name AS "ResourceName", resource_type AS "ResourceType",
            account AS "SubAccountId", tags AS "Tags", x_columns
        FROM (
            SELECT *, {provider_sql(inputs)} AS provider, {tags_sql(inputs)} AS tags,
                {timestamp_text('charge_start')} AS charge_start_text,
                {timestamp_text('charge_end')} AS charge_end_text,
                {money_text('pricing_quantity')} AS quantity_text, {money_text('list_unit_price')} AS list_price_text,
                {money_text('billed_unit_price')} AS billed_price_text, {money_text('list_cost')} AS list_text,
                {money_text('billed_cost')} AS billed_text
            FROM {relation}
        )
    """)
