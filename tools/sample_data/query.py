"""The one SELECT that writes an export: hashed row numbers in, FOCUS columns out, all inside DuckDB."""

from __future__ import annotations

from collections.abc import Sequence

from tools.sample_data.columns import focus_columns
from tools.sample_data.products import _Source
from tools.sample_data.query_inputs import query_inputs
from tools.sample_data.sources import _JOB_NAMES, _SUBDIRS
from tools.sample_data.sql import _QSCALE, _bool_list, _int_list, _render, _s, _str_list, _template


def build_query(
    src: _Source,
    source: str,
    months: Sequence[str],
    rows: int,
    version: str,
    fmt: str,
    seed: int,
    flagged_share: float,
    extra_columns: bool,
    start: int,
    stop: int,
) -> str:
    """Return the SELECT statement producing rows ``start <= i < stop`` of the export (in order of ``i``)."""
    products = src.products
    parquet = fmt == "parquet"
    v = query_inputs(src, source, months, rows, flagged_share, extra_columns)
    adj_amt, arr, billed_ppm, cp = v.adj_amt, v.arr, v.billed_ppm, v.cp
    cpe, cps, credit_amt, credit_desc = v.cpe, v.cps, v.credit_amt, v.credit_desc
    fee, flag_threshold, free, fund_tag = v.fee, v.flag_threshold, v.free, v.fund_tag
    is_mkt, is_sus, kind_expr, lp = v.is_mkt, v.is_sus, v.kind_expr, v.lp
    m_inv, me, mkt, ms = v.m_inv, v.me, v.mkt, v.ms
    ncd, nm, nproj, parr = v.ncd, v.nm, v.nproj, v.parr
    product_expr, q_usage, r_expr, rc = v.product_expr, v.q_usage, v.r_expr, v.rc
    region_id, region_name, rid_t, rname_t = v.region_id, v.region_name, v.rid_t, v.rname_t
    spot_expr, tags_json, tax_amt, x_exprs = v.spot_expr, v.tags_json, v.tax_amt, v.x_exprs
    zone = v.zone

    # ---------------------------------------------------------------------------------------------
    sql = f"""
WITH b AS (
    SELECT i,
        CAST((i * {nm}) // {max(rows, 1)} AS BIGINT) + 1 AS mi,
        hash(i, {seed}, 1) AS h_res,
        hash(i, {seed}, 2) % 10000 AS u_kind,
        hash(i, {seed}, 3) AS h_time,
        hash(i, {seed}, 4) AS h_qty,
        hash(i, {seed}, 5) % 1000000 AS u_flag,
        hash(i, {seed}, 6) AS h_flag,
        hash(i, {seed}, 7) AS h_misc,
        hash(i, {seed}, 8) AS h_amt
    FROM range({start}, {stop}) t(i)
), c AS (
    SELECT *, {r_expr} AS r FROM b
), d AS (
    SELECT *,
        hash(r, {seed}, 11) AS hr1, hash(r, {seed}, 12) AS hr2, hash(r, {seed}, 13) AS hr3,
        hash(r, {seed}, 14) AS hr4, hash(r, {seed}, 15) AS hr5, hash(r, {seed}, 16) AS hr6,
        {kind_expr} AS kind
    FROM c
), e AS (
    SELECT *,
        {product_expr} AS p,
        CAST(hr2 % {nproj} AS BIGINT) + 1 AS j,
        CASE WHEN kind IN ('Tax', 'Purchase') OR u_flag >= {flag_threshold} THEN -1
             ELSE CAST(h_flag % 8 AS INTEGER) END AS fl,
        CAST((h_flag // 8) % 4 AS INTEGER) AS fv,
        {ms} AS ms, {me} AS me
    FROM d
), f AS (
    SELECT *,
        {parr["proj"]}[j] AS proj, {parr["orgn"]}[j] AS orgn, {parr["pi"]}[j] AS pi,
        {parr["piuser"]}[j] AS piuser, {parr["cc"]}[j] AS cc, {parr["grant"]}[j] AS grant_no,
        {parr["req"]}[j] AS req, {parr["acode"]}[j] AS acode,
        {parr["subid"]}[j] AS sub_id, {parr["subname"]}[j] AS sub_name,
        CASE WHEN {parr["fund2"]}[j] IS NOT NULL AND (h_misc // 100) % 100 < 35 THEN {parr["fund2"]}[j]
             ELSE {parr["fund1"]}[j] END AS fund_digits,
        {region_id} AS region_id, {region_name} AS region_name,
        printf('%016x', hr5) AS hex16,
        {_str_list(_JOB_NAMES)}[CAST(hr6 % {len(_JOB_NAMES)} AS BIGINT) + 1]
            || '_' || lpad(CAST((hr6 // 16) % 1000 AS VARCHAR), 3, '0') AS jobname,
        {_str_list(_SUBDIRS)}[CAST((hr6 // 16) % {len(_SUBDIRS)} AS BIGINT) + 1] AS subdir,
        {cps} AS cps_u,
        {spot_expr} AS is_spot
    FROM e
), g AS (
    SELECT *,
        {zone} AS zone,
        {cpe} AS cpe_u,
        {fund_tag} AS fund_tag
    FROM f
), h AS (
    SELECT *,
        CASE WHEN kind = 'Usage' THEN {q_usage} WHEN kind = 'Purchase' THEN {_QSCALE} END AS q,
        CASE WHEN kind = 'Purchase' THEN {fee} ELSE {_int_list(lp)}[p] END AS lup,
        {billed_ppm} AS billed_ppm
    FROM g
), k AS (
    SELECT *,
        CASE WHEN kind = 'Purchase' THEN lup ELSE {_int_list(cp)}[p] END AS cup
    FROM h
), m AS (
    SELECT *,
        CAST((CAST(q AS HUGEINT) * lup) // {_QSCALE} AS BIGINT) AS list_raw,
        CAST((CAST(q AS HUGEINT) * cup) // {_QSCALE} AS BIGINT) AS contracted_raw,
        CAST((CAST(greatest(q - {free}[p], 0) AS HUGEINT) * cup) // {_QSCALE} * billed_ppm // 1000000
             AS BIGINT) AS billed_raw
    FROM k
), n AS (
    SELECT *,
        CASE kind
            WHEN 'Usage' THEN {rc("billed_raw")}
            WHEN 'Purchase' THEN list_raw
            WHEN 'Credit' THEN -{credit_amt}
            WHEN 'Tax' THEN {tax_amt}
            ELSE {adj_amt} END AS billed,
        CASE kind
            WHEN 'Usage' THEN {rc("list_raw")}
            WHEN 'Purchase' THEN list_raw
            WHEN 'Credit' THEN (CASE WHEN h_misc % 2 = 0 THEN 0 ELSE -{credit_amt} END)
            WHEN 'Tax' THEN {tax_amt}
            ELSE {adj_amt} END AS list_cost,
        CASE kind
            WHEN 'Usage' THEN {rc("contracted_raw")}
            WHEN 'Purchase' THEN contracted_raw
            WHEN 'Credit' THEN (CASE WHEN h_misc % 2 = 0 THEN 0 ELSE -{credit_amt} END)
            WHEN 'Tax' THEN {tax_amt}
            ELSE {adj_amt} END AS contracted_cost,
        CASE WHEN kind IN ('Usage', 'Purchase') THEN cps_u ELSE ms END AS cps,
        CASE WHEN kind IN ('Usage', 'Purchase') THEN cpe_u ELSE me END AS cpe,
        {is_mkt} AS is_mkt,
        {is_sus} AS is_sus,
        {_template(arr["rname"], rname_t)} AS rname
    FROM m
)
SELECT {{columns}}
FROM n
"""
    # final column expressions --------------------------------------------------------------------
    usage = "kind = 'Usage'"
    priced = "kind IN ('Usage', 'Purchase')"
    provider = _s(src.provider)
    cols: dict[str, str] = {
        "AvailabilityZone": (
            f"CASE WHEN {usage} AND NOT is_mkt AND {_bool_list([p.zonal for p in products])}[p] THEN zone END"
        ),
        "BilledCost": "billed",
        "BillingAccountId": _s(src.billing_account_id),
        "BillingAccountName": _s(src.billing_account_name),
        "BillingAccountType": _s(src.billing_account_type),
        "BillingCurrency": "'USD'",
        "BillingPeriodEnd": "me",
        "BillingPeriodStart": "ms",
        "CapacityReservationId": "NULL",
        "CapacityReservationStatus": "NULL",
        "ChargeCategory": "kind",
        "ChargeClass": "NULL",
        "ChargeDescription": (
            "CASE WHEN is_mkt THEN 'Acme Genomics Pipeline - SaaS usage' "
            f"WHEN {priced} THEN {arr['desc']}[p] "
            f"WHEN kind = 'Tax' THEN 'Sales tax on ' || {arr['svc']}[p] "
            f"WHEN kind = 'Credit' THEN {credit_desc}[CAST(h_misc % {ncd} AS BIGINT) + 1] "
            "ELSE 'Billing adjustment: rate correction' END"
        ),
        "ChargeFrequency": (
            "CASE kind WHEN 'Usage' THEN 'Usage-Based' WHEN 'Purchase' THEN 'Recurring' ELSE 'One-Time' END"
        ),
        "ChargePeriodEnd": "cpe",
        "ChargePeriodStart": "cps",
        "CommitmentDiscountCategory": "NULL",
        "CommitmentDiscountId": "NULL",
        "CommitmentDiscountName": "NULL",
        "CommitmentDiscountQuantity": "NULL",
        "CommitmentDiscountStatus": "NULL",
        "CommitmentDiscountType": "NULL",
        "CommitmentDiscountUnit": "NULL",
        "ConsumedQuantity": f"CASE WHEN {usage} THEN q END",
        "ConsumedUnit": f"CASE WHEN {usage} THEN {arr['unit']}[p] END",
        "ContractedCost": "contracted_cost",
        "ContractedUnitPrice": f"CASE WHEN {priced} THEN cup END",
        "EffectiveCost": "billed",
        "InvoiceId": f"{_str_list(m_inv)}[mi]",
        "InvoiceIssuerName": _s(src.invoice_issuer),
        "ListCost": "list_cost",
        "ListUnitPrice": f"CASE WHEN {priced} THEN lup END",
        "PricingCategory": f"CASE WHEN is_spot THEN 'Dynamic' WHEN {priced} THEN 'Standard' END",
        "PricingCurrency": "'USD'",
        "PricingCurrencyContractedUnitPrice": f"CASE WHEN {priced} THEN cup END",
        "PricingCurrencyEffectiveCost": "billed",
        "PricingCurrencyListUnitPrice": f"CASE WHEN {priced} THEN lup END",
        "PricingQuantity": f"CASE WHEN {priced} THEN q END",
        "PricingUnit": f"CASE WHEN {priced} THEN {arr['unit']}[p] END",
        "ProviderName": provider,
        "PublisherName": f"CASE WHEN is_mkt THEN {_s(mkt)} ELSE {provider} END",
        "RegionId": f"CASE WHEN {usage} AND NOT is_mkt THEN region_id END",
        "RegionName": f"CASE WHEN {usage} AND NOT is_mkt THEN region_name END",
        "ResourceId": f"CASE WHEN {usage} AND NOT is_mkt THEN {_template(arr['rid'], rid_t)} END",
        "ResourceName": (
            f"CASE WHEN NOT {usage} OR is_mkt THEN NULL "
            "WHEN is_sus THEN (CASE WHEN fv % 2 = 0 THEN 'test-' ELSE 'PROD-' END) || rname ELSE rname END"
        ),
        "ResourceType": f"CASE WHEN {usage} AND NOT is_mkt THEN {arr['rtype']}[p] END",
        "ServiceCategory": f"CASE WHEN is_mkt THEN 'Other' ELSE {arr['cat']}[p] END",
        "ServiceName": f"CASE WHEN is_mkt THEN 'AWS Marketplace' ELSE {arr['svc']}[p] END",
        "ServiceSubcategory": f"CASE WHEN is_mkt THEN 'Other (Other)' ELSE {arr['subcat']}[p] END",
        "SkuId": f"CASE WHEN is_mkt THEN 'prod-' || left(hex16, 12) WHEN {priced} THEN {arr['sku']}[p] END",
        "SkuMeter": f"CASE WHEN {priced} AND NOT is_mkt THEN {arr['meter']}[p] END",
        "SkuPriceDetails": f"CASE WHEN {priced} AND NOT is_mkt THEN {arr['details']}[p] END",
        "SkuPriceId": f"CASE WHEN {priced} AND NOT is_mkt THEN {arr['skuprice']}[p] END",
        "SubAccountId": "CASE WHEN kind = 'Purchase' THEN NULL ELSE sub_id END",
        "SubAccountName": "CASE WHEN kind = 'Purchase' THEN NULL ELSE sub_name END",
        "SubAccountType": f"CASE WHEN kind = 'Purchase' THEN NULL ELSE {_s(src.sub_account_type)} END",
        "Tags": tags_json,
        "AllocatedMethodDetails": "NULL",
        "AllocatedMethodId": "NULL",
        "AllocatedResourceId": "NULL",
        "AllocatedResourceName": "NULL",
        "AllocatedTags": "NULL",
        "ContractApplied": "NULL",
        "ServiceProviderName": f"CASE WHEN is_mkt THEN {_s(mkt)} ELSE {provider} END",
        "HostProviderName": provider,
    }

    select: list[str] = []
    for name in focus_columns(version):
        select.append(f"{_render(name, cols[name], parquet)} AS {name}")
    for name, expr in x_exprs:
        select.append(f"CAST({expr} AS VARCHAR) AS {name}")
    return sql.replace("{columns}", ",\n    ".join(select))
