"""The parts of the export query that depend on the source, the months and the row count, worked out in Python.

`query.build_query` pastes them into one SELECT; keeping them apart keeps each module readable.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Sequence
from types import SimpleNamespace

from tools.sample_data.products import _Source
from tools.sample_data.projects import PROJECTS
from tools.sample_data.sources import _ENVS, _sub_accounts
from tools.sample_data.sql import (
    _QSCALE,
    _SCALE,
    _int_list,
    _month_bounds,
    _s,
    _scaled,
    _sku_id,
    _str_list,
    _template,
)


def query_inputs(
    src: _Source, source: str, months: Sequence[str], rows: int, flagged_share: float, extra_columns: bool
) -> SimpleNamespace:
    """The SQL fragments and lists of one export (see `query.build_query`), by name."""
    products = src.products

    # months --------------------------------------------------------------------------------------
    m_start, m_end, m_hours, m_days, m_inv = [], [], [], [], []
    for month in months:
        y, mo, ny, nmo = _month_bounds(month)
        days = calendar.monthrange(y, mo)[1]
        m_start.append(f"TIMESTAMP '{y:04d}-{mo:02d}-01 00:00:00'")
        m_end.append(f"TIMESTAMP '{ny:04d}-{nmo:02d}-01 00:00:00'")
        m_days.append(days)
        m_hours.append(days * 24)
        if source == "gcp":
            m_inv.append(f"{3000000000 + y % 100 * 10000 + mo * 100 + 17}")
        else:
            m_inv.append(f"{src.invoice_prefix}{y % 100:02d}{mo:02d}-{(y * 12 + mo) * 7919 % 1000000:06d}")
    nm = len(months)

    # products ------------------------------------------------------------------------------------
    lut: list[int] = []
    for k, prod in enumerate(products, start=1):
        lut.extend([k] * prod.weight)
    lut = [lut[(n * len(lut)) // 1000] for n in range(1000)]
    purchase_idx = next((k for k, p in enumerate(products, start=1) if p.purchase), None)
    qmin = [_scaled(p.qty[0], _QSCALE) for p in products]
    qstep = [_scaled(p.qty[2], _QSCALE) for p in products]
    qmax = [_scaled(p.qty[1], _QSCALE) for p in products]
    qn = [(hi - lo) // st + 1 for lo, hi, st in zip(qmin, qmax, qstep, strict=True)]
    lp = [_scaled(p.list_price, _SCALE) for p in products]
    cp = [
        _scaled(p.contracted_price, _SCALE) if p.contracted_price else v * src.contracted_ppm // 1_000_000
        for p, v in zip(products, lp, strict=True)
    ]
    sku = [_sku_id(source, p.service, p.meter) for p in products]
    skuprice = [f"{s}.{_sku_id(source, 'price', p.meter)[:10]}" for s, p in zip(sku, products, strict=True)]
    details = [json.dumps(p.details, separators=(",", ":")) if p.details else None for p in products]
    counts = "[" + ", ".join(_int_list(p.counts) for p in products) + "]"
    rid_t = [p.resource_id for p in products]
    rname_t = [p.resource_name for p in products]
    tagx_t = [p.tag_extra or None for p in products]

    arr = {
        "svc": _str_list([p.service for p in products]),
        "cat": _str_list([p.category for p in products]),
        "subcat": _str_list([p.subcategory for p in products]),
        "rtype": _str_list([p.resource_type for p in products]),
        "unit": _str_list([p.unit for p in products]),
        "meter": _str_list([p.meter for p in products]),
        "desc": _str_list([p.description for p in products]),
        "sku": _str_list(sku),
        "skuprice": _str_list(skuprice),
        "details": _str_list(details),
        "rid": _str_list(rid_t),
        "rname": _str_list(rname_t),
        "tagx": _str_list(tagx_t),
    }

    # projects ------------------------------------------------------------------------------------
    nproj = len(PROJECTS)
    subs = _sub_accounts(source)
    parr = {
        "proj": _str_list([p.project_id for p in PROJECTS]),
        "orgn": _str_list([p.orgn for p in PROJECTS]),
        "fund1": _str_list([p.fund for p in PROJECTS]),
        "fund2": _str_list([p.fund2 for p in PROJECTS]),
        "pi": _str_list([p.pi_email for p in PROJECTS]),
        "piuser": _str_list([p.pi_user for p in PROJECTS]),
        "cc": _str_list([p.cost_center for p in PROJECTS]),
        "grant": _str_list([p.grant_number for p in PROJECTS]),
        "req": _str_list([p.request_id for p in PROJECTS]),
        "acode": _str_list([p.account_code for p in PROJECTS]),
        "subid": _str_list([s[0] for s in subs]),
        "subname": _str_list([s[1] for s in subs]),
    }

    # resources -----------------------------------------------------------------------------------
    if src.rows_per_resource <= 1:
        r_expr = "i"
    else:
        n_res = max(25, rows // src.rows_per_resource)
        r_expr = f"CAST(h_res % {n_res} AS BIGINT)"
    if src.regions:
        region_id = f"{_str_list([r[0] for r in src.regions])}[CAST(hr3 % {len(src.regions)} AS BIGINT) + 1]"
        region_name = (
            f"{_str_list([r[1] for r in src.regions])}[CAST(hr3 % {len(src.regions)} AS BIGINT) + 1]"
        )
    else:
        region_id = region_name = "CAST(NULL AS VARCHAR)"
    if src.zone_suffixes:
        nz = len(src.zone_suffixes)
        zone = f"region_id || {_str_list(src.zone_suffixes)}[CAST((hr3 // 16) % {nz} AS BIGINT) + 1]"
    else:
        zone = "CAST(NULL AS VARCHAR)"

    # row kinds (per 10,000 rows) -----------------------------------------------------------------
    bounds = []
    acc = 0
    for kind, bp in (
        ("Credit", src.credit_bp),
        ("Tax", src.tax_bp),
        ("Purchase", src.purchase_bp if purchase_idx else 0),
        ("Adjustment", src.adjustment_bp),
    ):
        if bp:
            acc += bp
            bounds.append(f"WHEN u_kind < {acc} THEN '{kind}'")
    kind_expr = "CASE " + " ".join(bounds) + " ELSE 'Usage' END" if bounds else "'Usage'"
    product_expr = f"{_int_list(lut)}[CAST(hr1 % 1000 AS BIGINT) + 1]"
    if purchase_idx:
        product_expr = f"CASE WHEN kind = 'Purchase' THEN {purchase_idx} ELSE {product_expr} END"
    flag_threshold = round(min(max(flagged_share, 0.0), 1.0) * 1_000_000)

    # charge periods ------------------------------------------------------------------------------
    ms = f"[{', '.join(m_start)}][mi]"
    me = f"[{', '.join(m_end)}][mi]"
    hours = f"{_int_list(m_hours)}[mi]"
    days = f"{_int_list(m_days)}[mi]"
    if src.period == "hour":
        cps = f"ms + to_hours(CAST(h_time % {hours} AS BIGINT))"
        cpe = "cps_u + INTERVAL 1 HOUR"
    elif src.period == "day":
        cps = f"ms + to_days(CAST(h_time % {days} AS BIGINT))"
        cpe = "cps_u + INTERVAL 1 DAY"
    elif src.period == "job":
        cps = f"ms + to_hours(CAST(h_time % {hours} AS BIGINT))"
        cpe = "least(cps_u + to_hours(CAST(1 + (h_time // 4096) % 72 AS BIGINT)), me)"
    else:
        cps, cpe = "ms", "me"

    # quantities and money (integers: quantity 1e-6 units, money 1e-10 USD) -----------------------
    if src.period == "job":
        q_usage = (
            f"{counts}[p][CAST(h_qty % len({counts}[p]) AS BIGINT) + 1]"
            f" * date_diff('hour', cps_u, cpe_u) * {_QSCALE}"
        )
    else:
        # product of two uniform draws: many small quantities, a long tail of big ones
        qn_p = f"{_int_list(qn)}[p]"
        q_usage = (
            f"{_int_list(qmin)}[p]"
            f" + CAST((h_qty % {qn_p}) * ((h_qty // 1000003) % {qn_p}) // {qn_p} AS BIGINT)"
            f" * {_int_list(qstep)}[p]"
        )
    spot_flags = [p.spot for p in products]
    if src.spot_pct and any(spot_flags):
        spot_expr = (
            f"(kind = 'Usage' AND [{', '.join('true' if s else 'false' for s in spot_flags)}][p]"
            f" AND h_misc % 100 < {src.spot_pct}{' AND fl <> 7' if src.marketplace else ''})"
        )
    else:
        spot_expr = "false"
    billed_cases = [f"WHEN is_spot THEN {src.spot_ppm}"] + [
        f"WHEN h_misc % 100 < {pct} THEN {ppm}" for pct, ppm in src.subsidy
    ]
    billed_ppm = "CASE " + " ".join(billed_cases) + " ELSE 1000000 END"
    free = _int_list([p.free_units * _QSCALE for p in products])
    cents = 10**8

    def rc(expr: str) -> str:
        """Round a non-negative money integer to whole cents (half up) when the source bills in cents."""
        return f"(({expr} + {cents // 2}) // {cents}) * {cents}" if src.cents else f"({expr})"

    # non-usage amounts scale with the typical usage row of the source, so that taxes are a few
    # percent of the spend and credits/fees stay plausible whatever the row granularity
    scale = src.typical_row_cents
    credit_amt = rc(f"{cents} + CAST(h_amt % {scale * 12 * cents} AS BIGINT)")
    tax_amt = f"({max(scale // 10, 1)} + CAST(h_amt % {scale * 12} AS BIGINT)) * {cents}"
    adj_amt = (
        f"({max(scale // 10, 1)} + CAST(h_amt % {scale * 10} AS BIGINT)) * {cents}"
        " * (CASE WHEN h_misc % 3 = 0 THEN -1 ELSE 1 END)"
    )
    fee = f"({scale * 5} + CAST(h_amt % {scale * 30} AS BIGINT)) * {cents}"
    credit_desc = _str_list(src.credit_descriptions)
    ncd = len(src.credit_descriptions)

    # tags ----------------------------------------------------------------------------------------
    def frag(key: str, value_sql: str) -> str:
        return f"'\"{key}\":\"' || {value_sql} || '\"'"

    noise = [f"CASE WHEN (hr4 // 7) % 5 = 0 THEN {_s(n)} END" for n in src.noise_tags]
    noise = [
        f"replace({n}, '{{proj}}', proj)" if "{proj}" in t else n
        for n, t in zip(noise, src.noise_tags, strict=True)
    ]
    tag_parts = [
        frag("env", f"{_str_list(_ENVS)}[CAST(hr4 % 4 AS BIGINT) + 1]"),
        f"CASE WHEN fl <> 0 THEN {frag('pi_email', 'pi')} END",
        f"CASE WHEN fl <> 1 THEN {frag('project_id', 'proj')} END",
        f"CASE WHEN fl <> 2 THEN {frag('fund_org', 'fund_tag')} END",
        frag("cost_center", "cc"),
        f"CASE WHEN (h_misc // 10000) % 100 < 10 THEN {frag('account_code', 'acode')} END",
        f"CASE WHEN grant_no IS NOT NULL THEN {frag('grant_number', 'grant_no')} END",
        f"CASE WHEN (hr4 // 4) % 100 < 25 THEN {frag('request_id', 'req')} END",
        f"CASE WHEN (hr4 // 400) % 2 = 0 THEN {frag('owner', 'piuser')} END",
        f"CASE WHEN kind = 'Usage' THEN {_template(arr['tagx'], tagx_t)} END",
        *noise,
    ]
    tags_json = (
        "CASE WHEN kind IN ('Tax', 'Purchase') OR fl = 4 THEN NULL WHEN fl = 5 THEN '{}' "
        f"ELSE '{{' || concat_ws(',', {', '.join(tag_parts)}) || '}}' END"
    )
    fund_tag = (
        "CASE WHEN fl = 3 THEN (CASE fv WHEN 0 THEN lower(orgn) || '_' || fund_digits "
        "WHEN 1 THEN orgn || '-' || left(fund_digits, 2) "
        "WHEN 2 THEN ' ' || orgn || '-' || fund_digits || ' ' "
        "ELSE orgn || fund_digits END) ELSE orgn || '-' || fund_digits END"
    )

    mkt = "Acme Bioinformatics LLC"
    is_mkt = "(kind = 'Usage' AND fl = 7)" if src.marketplace else "false"
    is_sus = "(kind = 'Usage' AND fl IN (6, 7))" if not src.marketplace else "(kind = 'Usage' AND fl = 6)"

    x_exprs = []
    if extra_columns:
        for k, name in enumerate(src.x_columns):
            templates = [p.x[k] if k < len(p.x) else None for p in products]
            templates = [t or None for t in templates]
            x_exprs.append((name, _template(_str_list(templates), templates)))
    return SimpleNamespace(
        adj_amt=adj_amt,
        arr=arr,
        billed_ppm=billed_ppm,
        cp=cp,
        cpe=cpe,
        cps=cps,
        credit_amt=credit_amt,
        credit_desc=credit_desc,
        fee=fee,
        flag_threshold=flag_threshold,
        free=free,
        fund_tag=fund_tag,
        is_mkt=is_mkt,
        is_sus=is_sus,
        kind_expr=kind_expr,
        lp=lp,
        m_inv=m_inv,
        me=me,
        mkt=mkt,
        ms=ms,
        ncd=ncd,
        nm=nm,
        nproj=nproj,
        parr=parr,
        product_expr=product_expr,
        q_usage=q_usage,
        r_expr=r_expr,
        rc=rc,
        region_id=region_id,
        region_name=region_name,
        rid_t=rid_t,
        rname_t=rname_t,
        spot_expr=spot_expr,
        tags_json=tags_json,
        tax_amt=tax_amt,
        x_exprs=x_exprs,
        zone=zone,
    )
