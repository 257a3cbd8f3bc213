"""Usage priced with the rates, in DuckDB SQL: no Python loop per job, so a million jobs price in seconds.

A month's usage lines (usage_rows of its Slurm and storage imports) become `pricing_usage` (one row per charge,
attributed through the accounts file) and `pricing_demand` (what each charge consumed, per unit: a job with
billing TRES is `billing-hour`; without, `cpu-hour`, `gpu-hour` and `mem-gb-hour` priced apart and summed into
the job's one charge). Each demand line finds its rate: same source and unit, the line's own service before `*`,
the account's group before the default, valid on the line's date (a job's UTC end). A tiered rate splits the
demand by the quantity the same project (or unmapped account) consumed before it in the month, per source, rate
service and unit, in order of end time, import and line: a job crossing a tier boundary is priced part in each tier.
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.pricing.focus_out import json_value, money_text
from ocb_pipelines.pricing.inputs import PricingInputs, PricingRefused
from ocb_pipelines.warehouse.database import MONEY

USAGE_TABLE = "pricing_usage"
PARTS_TABLE = "pricing_parts"

USAGE_DDL = f"""CREATE OR REPLACE TEMP TABLE {USAGE_TABLE} (
    import_key INTEGER, file_row_number BIGINT, file_name VARCHAR, source VARCHAR, kind VARCHAR,
    account VARCHAR, pi_email VARCHAR, project_id VARCHAR, fund_org VARCHAR, group_key VARCHAR,
    service_name VARCHAR, service_category VARCHAR, resource_id VARCHAR, resource_name VARCHAR,
    resource_type VARCHAR, description VARCHAR, charge_start TIMESTAMP, charge_end TIMESTAMP, order_at TIMESTAMP,
    rate_date DATE, hours {MONEY}, billing_units {MONEY}, cpus {MONEY}, gpus {MONEY}, mem_gb {MONEY},
    stored_tb {MONEY}, x_extra VARCHAR
)"""


def load_slurm(con: duckdb.DuckDBPyConnection, month: str) -> None:
    """The month's Slurm jobs (usage imports of focus_version slurm-sacct) into pricing_usage, attributed."""
    con.execute(USAGE_DDL)
    con.execute(f"""
        INSERT INTO {USAGE_TABLE} BY NAME
        SELECT u.import_key, u.file_row_number, i.file_name, i.source, 'job' AS kind, u.account,
            a.pi_email, a.project_id, a.fund_org, coalesce(a.group_key, '') AS group_key,
            coalesce(nullif(trim(u.partition), ''), 'Slurm') AS service_name, 'Compute' AS service_category,
            u.job_id AS resource_id, u.job_name AS resource_name, 'Slurm job' AS resource_type,
            'Slurm job ' || coalesce(u.job_id, '') || ' on ' || coalesce(nullif(trim(u.partition), ''), 'Slurm')
                AS description,
            coalesce(u.started_at, u.ended_at) AS charge_start, u.ended_at AS charge_end, u.ended_at AS order_at,
            CAST(u.ended_at AS DATE) AS rate_date, coalesce(u.elapsed_hours, 0) AS hours, u.billing_units,
            coalesce(u.cpus, 0) AS cpus, coalesce(u.gpus, 0) AS gpus, coalesce(u.mem_gb, 0) AS mem_gb,
            CAST(NULL AS VARCHAR) AS x_extra
        FROM usage_rows u JOIN imports i ON i.import_key = u.import_key
            LEFT JOIN pricing_accounts a ON a.account_key = lower(u.account)
        WHERE u.billing_month = $month AND i.focus_version = 'slurm-sacct'
        -- A job in two files of the month (two overlapping exports) is one job: billed once, from the file whose
        -- name sorts first; the other line is counted as a duplicate (engine.summarize), never priced twice.
        QUALIFY row_number() OVER (PARTITION BY lower(i.source), coalesce(u.cluster, ''), u.job_id
                                   ORDER BY i.file_name, u.file_row_number) = 1
    """, {"month": month})


def _quantity(product: str) -> str:
    """An exact product of two MONEY values rounded to MONEY's 12 places (never a float)."""
    return f"CAST(round({product}, 12) AS {MONEY})"


# A usage line's rate key: the values a rate is chosen by (source, service, group, date); its tier owner: the project,
# or the account when unmapped. Hashed, so that the million-row steps join and sort on integers, not strings; the
# hashes of a month's distinct keys are checked to be distinct (a collision is refused, never priced).
RATE_KEY = "hash(lower(source), lower(service_name), group_key, rate_date)"
OWNER_KEY = "hash(coalesce('p:' || lower(project_id), 'a:' || lower(account)))"


def build_demand(con: duckdb.DuckDBPyConnection) -> int:
    """pricing_demand: per charge, each unit it consumed and how much; the number of demand lines."""
    several = "kind = 'job' AND billing_units IS NULL AND (gpus > 0 OR mem_gb > 0)"  # priced in several units
    select = (f"SELECT import_key, file_row_number, order_at, {RATE_KEY} AS rate_key, {OWNER_KEY} AS owner_key, "
              f"{several} AS several_units")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pricing_demand AS
        {select}, 'billing-hour' AS unit, 1 AS part, {_quantity('billing_units * hours')} AS quantity
            FROM {USAGE_TABLE} WHERE kind = 'job' AND billing_units IS NOT NULL
        UNION ALL {select}, 'cpu-hour', 1, {_quantity('cpus * hours')}
            FROM {USAGE_TABLE} WHERE kind = 'job' AND billing_units IS NULL
        UNION ALL {select}, 'gpu-hour', 2, {_quantity('gpus * hours')}
            FROM {USAGE_TABLE} WHERE kind = 'job' AND billing_units IS NULL AND gpus > 0
        UNION ALL {select}, 'mem-gb-hour', 3, {_quantity('mem_gb * hours')}
            FROM {USAGE_TABLE} WHERE kind = 'job' AND billing_units IS NULL AND mem_gb > 0
        UNION ALL {select}, 'TB-month', 1, stored_tb FROM {USAGE_TABLE} WHERE kind = 'storage'
    """)
    return con.execute("SELECT count(*) FROM pricing_demand").fetchall()[0][0]


def choose_rates(con: duckdb.DuckDBPyConnection, inputs: PricingInputs) -> None:
    """pricing_rate_sets: for each rate key and unit of the demand, the rate lines that price it (the tiers of the
    most specific line: the usage's own service before `*`, its group before the default, valid on its date) and
    the schedule its tiers are counted in; PricingRefused naming the first usage line of each key no rate covers."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pricing_rate_keys AS
        WITH usage_keys AS (
            SELECT DISTINCT {RATE_KEY} AS rate_key, lower(source) AS source_key, lower(service_name) AS service_key,
                group_key, rate_date
            FROM {USAGE_TABLE}
        ),
        keys AS (
            SELECT k.*, d.unit, lower(d.unit) AS unit_key
            FROM (SELECT DISTINCT rate_key, unit FROM pricing_demand) d JOIN usage_keys k USING (rate_key)
        ),
        candidates AS (
            SELECT k.rate_key, k.unit, r.service_key AS rate_service, r.group_key AS rate_group,
                row_number() OVER (PARTITION BY k.rate_key, k.unit
                                   ORDER BY r.service_key = k.service_key DESC, r.group_key = k.group_key DESC)
                    AS preference
            FROM keys k JOIN pricing_rates r ON r.source_key = k.source_key AND r.unit_key = k.unit_key
                AND r.service_key IN (k.service_key, '*') AND r.group_key IN (k.group_key, '')
                AND k.rate_date BETWEEN r.valid_from AND r.valid_to
        )
        SELECT k.*, c.rate_service, c.rate_group, hash(k.source_key, c.rate_service, k.unit_key) AS schedule_key
        FROM keys k LEFT JOIN candidates c ON c.preference = 1 AND c.rate_key = k.rate_key AND c.unit = k.unit
    """)
    keys, distinct = con.execute(
        "SELECT count(*), count(DISTINCT (rate_key, unit)) FROM pricing_rate_keys").fetchall()[0]
    if keys != distinct:
        raise PricingRefused("pricing refused, nothing was written: two rate keys of the month hash alike; "
                             "report this (it should never happen)")
    missing = con.execute(f"""
        SELECT u.file_name, u.file_row_number, u.source, u.service_name, k.unit, u.group_key, u.rate_date
        FROM pricing_demand d JOIN pricing_rate_keys k USING (rate_key, unit)
            JOIN {USAGE_TABLE} u USING (import_key, file_row_number)
        WHERE k.rate_service IS NULL
        QUALIFY row_number() OVER (PARTITION BY d.rate_key, d.unit ORDER BY u.file_name, u.file_row_number) = 1
        ORDER BY u.file_name, u.file_row_number
    """).fetchall()
    if missing:
        rates = inputs.rates_file or "the rates (pricing.rates_file is not set)"
        shown = [f"{file} line {line}: no rate in {rates} for source {source!r}, service {service!r}, unit {unit!r}, "
                 f"group {group or '(default)'!r} on {day}" for file, line, source, service, unit, group, day
                 in missing[:5]]
        more = f"; and {len(missing) - 5} more combinations" if len(missing) > 5 else ""
        raise PricingRefused("pricing refused, nothing was written: " + "; ".join(shown) + more
                             + ". Add a rate line for it (a service of '*' covers every service without its own).")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE pricing_rate_sets AS
        SELECT k.rate_key, k.unit, k.schedule_key, r.line, r.tier_from, r.tier_to, r.list_unit_price,
            r.billed_unit_price
        FROM pricing_rate_keys k JOIN pricing_rates r ON r.source_key = k.source_key AND r.unit_key = k.unit_key
            AND r.service_key = k.rate_service AND r.group_key = k.rate_group
            AND k.rate_date BETWEEN r.valid_from AND r.valid_to
    """)


def price_parts(con: duckdb.DuckDBPyConnection, tiered: bool) -> None:
    """pricing_parts: each demand line priced in the tier(s) it falls in (one part without tiers). The quantity
    consumed before a line (its tier position) is counted per owner and schedule in order of end time, import and
    line, on integers only."""
    if tiered:
        owners, hashed = con.execute(
            f"SELECT count(DISTINCT coalesce('p:' || lower(project_id), 'a:' || lower(account))), "
            f"count(DISTINCT {OWNER_KEY}) FROM {USAGE_TABLE}").fetchall()[0]
        if owners != hashed:
            raise PricingRefused("pricing refused, nothing was written: two projects of the month hash alike; "
                                 "report this (it should never happen)")
        placed = """
            WITH scheduled AS (
                SELECT d.*, k.schedule_key FROM pricing_demand d JOIN pricing_rate_keys k USING (rate_key, unit)
            )
            SELECT * EXCLUDE (schedule_key), coalesce(sum(quantity) OVER (PARTITION BY owner_key, schedule_key
                ORDER BY order_at, import_key, file_row_number, part
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS q_start
            FROM scheduled"""
    else:
        placed = "SELECT *, 0 AS q_start FROM pricing_demand"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {PARTS_TABLE} AS
        WITH placed AS ({placed}),
        split AS (
            SELECT p.import_key, p.file_row_number, p.part, p.unit, p.quantity, p.several_units, r.line, r.tier_from,
                r.tier_to,
                r.list_unit_price, r.billed_unit_price,
                CAST(CASE WHEN p.quantity = 0 THEN p.quantity
                     ELSE least(p.q_start + p.quantity, coalesce(r.tier_to, p.q_start + p.quantity))
                          - greatest(p.q_start, r.tier_from) END AS {MONEY}) AS part_quantity
            FROM placed p JOIN pricing_rate_sets r USING (rate_key, unit)
            WHERE (r.tier_to IS NULL OR r.tier_to > p.q_start)
                AND CASE WHEN p.quantity = 0 THEN r.tier_from <= p.q_start
                         ELSE r.tier_from < p.q_start + p.quantity END
        )
        SELECT * EXCLUDE (several_units), {_quantity('part_quantity * list_unit_price')} AS list_part,
            {_quantity('part_quantity * billed_unit_price')} AS billed_part,
            part_quantity = quantity AND NOT several_units AS alone  -- the charge's only part
        FROM split
    """)
    demand, priced = con.execute(
        f"SELECT (SELECT coalesce(sum(quantity), 0) FROM pricing_demand), "
        f"(SELECT coalesce(sum(part_quantity), 0) FROM {PARTS_TABLE})").fetchall()[0]
    if demand != priced:  # the reader's date and tier checks make this impossible; never bill a wrong amount
        raise PricingRefused(f"pricing refused, nothing was written: the rates' tiers priced {priced} of the "
                             f"{demand} units used; check the rates file's tiers and dates")


COSTS_TABLE = "pricing_costs"


def build_costs(con: duckdb.DuckDBPyConnection) -> None:
    """pricing_costs: one row per usage charge, its parts summed. Most charges have one part and are taken as they
    are (no grouping of a million rows); only those split across tiers or units are aggregated (and list their
    parts in x_ocb_tiers, in order of part and tier: sorted as a list of (part, tier_from, its JSON) structs, a third
    of the time of an ordered aggregate over 100,000 small groups)."""
    part_json = (f"{{'unit': unit, 'quantity': {money_text('part_quantity')}, 'tier_from': {money_text('tier_from')}, "
                 f"'tier_to': {money_text('tier_to')}, 'line': line, 'list_cost': {money_text('list_part')}, "
                 f"'billed_cost': {money_text('billed_part')}}}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {COSTS_TABLE} AS
        SELECT import_key, file_row_number, list_part AS list_cost, billed_part AS billed_cost, unit AS pricing_unit,
            part_quantity AS pricing_quantity, list_unit_price, billed_unit_price, '[' || line || ']' AS rate_lines,
            CAST(NULL AS VARCHAR) AS tiers
        FROM {PARTS_TABLE} WHERE alone
        UNION ALL
        SELECT import_key, file_row_number, sum(list_part), sum(billed_part),
            CASE WHEN count(DISTINCT part) = 1 THEN any_value(unit) ELSE 'job' END,
            CASE WHEN count(DISTINCT part) = 1 THEN sum(part_quantity) ELSE 1 END,
            CASE WHEN count(DISTINCT part) > 1 THEN sum(list_part) END,
            CASE WHEN count(DISTINCT part) > 1 THEN sum(billed_part) END,
            CAST(to_json(list_sort(list_distinct(list(line)))) AS VARCHAR),
            CAST(to_json(list_transform(list_sort(list({{'part': part, 'tier_from': tier_from, 'json': {part_json}}})),
                                        lambda p: p.json)) AS VARCHAR)
        FROM {PARTS_TABLE} WHERE NOT alone
        GROUP BY import_key, file_row_number
    """)


# The usage charges with pricing_charges' columns (focus_out writes them; subsidies read them). A charge of one
# part has that part's unit and unit prices; one unit split across tiers: its quantity, unit prices blank;
# several units (cpu, gpu, memory hours): unit `job`, quantity 1, unit prices = its costs.
USAGE_CHARGES_SQL = f"""
    SELECT u.import_key, u.file_row_number, u.source, u.file_name, 'usage' AS kind, u.account, u.pi_email,
        u.project_id, u.fund_org, u.group_key, u.service_name, u.service_category, u.resource_id,
        u.resource_name, u.resource_type, u.description, u.charge_start, u.charge_end, u.order_at,
        'Usage' AS category, 'Usage-Based' AS frequency, c.pricing_unit, c.pricing_quantity, c.list_unit_price,
        c.billed_unit_price, c.list_cost, c.billed_cost,
        '{{"x_ocb_account":' || {json_value('u.account')}
            || ',"x_ocb_group":' || {json_value("nullif(u.group_key, '')")}
            || ',"x_ocb_rate_lines":' || c.rate_lines
            || coalesce(',"x_ocb_tiers":' || c.tiers, '') || coalesce(u.x_extra, '') || '}}' AS x_columns
    FROM {USAGE_TABLE} u JOIN {COSTS_TABLE} c USING (import_key, file_row_number)
"""
