"""Price a billing month: usage (Slurm jobs, storage reports) with the rates, fixed fees, subsidy rules.

`price_month` replaces everything pricing wrote for the month in ONE transaction behind the period guard: the
FOCUS rows of the month's usage imports (under their import keys and line numbers), the fees import, the subsidy
imports (one per source, file `pricing.subsidies`) and the month's subsidy_applications; then records the run
(pricing_runs) and the usage imports' totals (import_files). Everything downstream (charges_validated, review,
statements, the journal) reads the priced rows as any imported FOCUS row. A month priced with the same inputs and
usage is not written again (`unchanged`); a closed or finalized month is never re-priced: if its pricing would
change, PricingRefused says what changed and what to do.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import duckdb

from ocb_pipelines.core.billing_month import BillingMonth, month_key
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.money import exact_text
from ocb_pipelines.core.step_timer import timed_step
from ocb_pipelines.pricing import fees as fee_charges
from ocb_pipelines.pricing import rating, storage, subsidies
from ocb_pipelines.pricing.files import FeeLine
from ocb_pipelines.pricing.focus_out import CHARGES_TABLE, create_charges_table, write_focus_rows
from ocb_pipelines.pricing.inputs import (
    SUBSIDY_FILE_NAME,
    PricingInputs,
    PricingRefused,
    load_account_table,
    load_inputs,
    load_rate_table,
    pricing_inputs,
)
from ocb_pipelines.pricing.runs import (
    FEES_VERSION,
    PRICED_VERSIONS,
    SUBSIDY_VERSION,
    USAGE_VERSIONS,
    changes,
    last_run,
    month_state,
    versions_sql,
)
from ocb_pipelines.pricing.schemas import gate_priced
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema.ingest import IMPORTS_INSERT

__all__ = ["PricingRefused", "PricingSummary", "months_affected", "price_month", "pricing_inputs"]
TEMP_TABLES = ("pricing_rates", "pricing_accounts", "pricing_usage", "pricing_demand", "pricing_rate_keys",
               "pricing_rate_sets", "pricing_parts", rating.COSTS_TABLE, CHARGES_TABLE, "pricing_net", "pricing_credit")


@dataclass
class PricingSummary:
    """A month's pricing: rows written, totals (billed: after the rules' credit lines; subsidy: those credits, the
    rules' part of the discount list - billed), per source and unit, per rule; `unchanged`: priced already with
    the same inputs, nothing written."""

    month: str
    priced_rows: int = 0
    list_total: Decimal = Decimal(0)
    billed_total: Decimal = Decimal(0)
    subsidy_total: Decimal = Decimal(0)
    by_source: list[dict] = field(default_factory=list)  # {"source", "rows", "quantity", "unit", "list", "billed"}
    by_rule: list[dict] = field(default_factory=list)  # {"rule", "kind", "lines", "amount"}
    inputs_sha256: str = ""
    unchanged: bool = False
    duplicate_jobs: int = 0  # Slurm jobs found in another file of the month too: billed once, from that file


def price_month(
    con: duckdb.DuckDBPyConnection,
    settings: OcbSettings,
    month: str,
    *,
    run_id: str | None = None,
    actor: str | None = None,
) -> PricingSummary:
    """Price the month from its usage imports, the fees, rates, accounts and subsidy rules (see the module)."""
    month = month_key(month)
    actor = actor or wh.current_actor()
    sha, described = pricing_inputs(settings)
    state = month_state(con, month, settings.pricing.subsidies)
    last = last_run(con, month)
    changed = changes(last, sha, described, state)
    if not changed:
        return summarize(con, month, sha, unchanged=True)
    inputs = load_inputs(settings)
    due = fee_charges.due_fees(inputs, month)
    if last is None and not state["usage"] and not due:
        return summarize(con, month, sha, unchanged=True)  # nothing to price, nothing priced before: no month opened
    status = wh.period_status(con, month)
    if status in ("closed", "finalized"):
        todo = (f"Reopen it (`ocb periods reopen {month} --reason \"...\"`) and price it again, or book the "
                f"difference in an open month" if status == "closed"
                else "A finalized month never changes: book the difference in an open month")
        raise PricingRefused(f"billing month {month} is {status}, so pricing it again is refused: "
                             f"{'; '.join(changed)} changed since. {todo}.")
    # Priced rows carry their import key and line: they need no insertion order, so DuckDB may write in parallel.
    con.execute("SET preserve_insertion_order = false")
    try:
        with wh.transaction(con):
            wh.ensure_period_open(con, month, actor, action="pricing")
            priced = price_rows(con, settings, inputs, month, due, run_id, actor)
            with timed_step("pricing: summary"):
                summary = summarize(con, month, sha)
            con.execute(
                "INSERT INTO pricing_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [month, sha, json.dumps({**described, **state}, sort_keys=True), summary.priced_rows,
                 summary.list_total, summary.billed_total, summary.subsidy_total, wh.now_utc(), actor, run_id],
            )
            wh.record_audit(con, actor=actor, action="price", period=month, run_id=run_id, subject=f"pricing {month}",
                            details={"inputs_sha256": sha, "rows": summary.priced_rows, "changed": changed,
                                     "list_total": summary.list_total, "billed_total": summary.billed_total,
                                     "subsidy_total": summary.subsidy_total, **priced})
    finally:
        con.execute("SET preserve_insertion_order = true")  # as every connection is configured
        for table in TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    return summary


def price_rows(con: duckdb.DuckDBPyConnection, settings: OcbSettings, inputs: PricingInputs, month: str,
               due: list[FeeLine], run_id: str | None, actor: str) -> dict:
    """Delete what pricing wrote for the month, then price and write it again (in the caller's transaction)."""
    # New import keys are taken before the old ones are deleted: never the same key twice in one transaction.
    next_key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
    with timed_step("pricing: delete the month's priced rows"):
        _delete_priced(con, month)
    load_rate_table(con, inputs.rates)
    load_account_table(con, inputs.accounts)
    create_charges_table(con)
    with timed_step("pricing: usage lines, attributed"):
        rating.load_slurm(con, month)
        storage.load_storage(con, month)
    with timed_step("pricing: demand per unit"):
        rating.build_demand(con)
    with timed_step("pricing: rates chosen"):
        rating.choose_rates(con, inputs)
    with timed_step("pricing: parts priced (tiers)"):
        rating.price_parts(con, tiered=any(r.tier_to is not None for r in inputs.rates))
    with timed_step("pricing: one charge per line"):
        rating.build_costs(con)
    fee_keys = {source: next_key + i for i, source in enumerate(fee_charges.fee_sources(due))}
    next_key += len(fee_keys)
    fee_charges.insert_fee_charges(con, month, inputs, due, fee_keys)
    with timed_step("pricing: subsidy rules"):
        lines = subsidies.apply_rules(con, month, inputs.rules, rating.USAGE_CHARGES_SQL)
    credit_keys = {source: next_key + i for i, source in enumerate(sorted({line.source for line in lines}))}
    subsidies.insert_credit_charges(con, month, lines, credit_keys, SUBSIDY_FILE_NAME)
    subsidies.record_applications(con, month, lines)
    now = wh.now_utc()
    for source, key in fee_keys.items():
        _new_import(con, key, month, source, inputs.fees_file, inputs.fees_sha256, FEES_VERSION, now, run_id)
    for source, key in credit_keys.items():
        _new_import(con, key, month, source, SUBSIDY_FILE_NAME, inputs.rules_sha256, SUBSIDY_VERSION, now, run_id)
    with timed_step("pricing: gate"):
        problems = gate_priced(con, [rating.USAGE_CHARGES_SQL, CHARGES_TABLE])
    if problems:
        details = "\n  - ".join(problems)
        raise PricingRefused(f"the priced charges of {month} failed their schema; nothing was written:\n  - {details}")
    with timed_step("pricing: write FOCUS rows"):
        write_focus_rows(con, month, inputs, rating.USAGE_CHARGES_SQL)
        write_focus_rows(con, month, inputs)
    _record_files(con, month, inputs, settings, fee_keys, credit_keys, now, actor, run_id)
    return {"fees": len(due), "credit_lines": len(lines), "fee_imports": len(fee_keys),
            "subsidy_imports": len(credit_keys)}


def _delete_priced(con: duckdb.DuckDBPyConnection, month: str) -> None:
    priced = (f"SELECT import_key FROM imports WHERE billing_month = ? "
              f"AND focus_version IN ({versions_sql(PRICED_VERSIONS)})")
    con.execute(f"DELETE FROM focus_rows WHERE billing_month = ? AND import_key IN ({priced})", [month, month])
    ours = versions_sql((FEES_VERSION, SUBSIDY_VERSION))
    con.execute(f"DELETE FROM import_files WHERE billing_month = ? AND focus_version IN ({ours})", [month])
    con.execute(f"DELETE FROM imports WHERE billing_month = ? AND focus_version IN ({ours})", [month])
    con.execute("DELETE FROM subsidy_applications WHERE billing_month = ?", [month])


def _new_import(con: duckdb.DuckDBPyConnection, key: int, month: str, source: str, file_name: str, sha: str,
                version: str, now: datetime, run_id: str | None) -> None:
    con.execute(f"{IMPORTS_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)",
                [key, uuid.uuid4().hex, month, source, file_name, sha, version, now, run_id])


def _record_files(con: duckdb.DuckDBPyConnection, month: str, inputs: PricingInputs, settings: OcbSettings,
                  fee_keys: dict[str, int], credit_keys: dict[str, int], now: datetime, actor: str,
                  run_id: str | None) -> None:
    """import_files: the usage imports' totals as priced; a record for each fees and subsidy import, so the
    import catalog's totals equal the month's raw rows (the reconciliation checks it)."""
    con.execute(f"""
        UPDATE import_files f SET billed_total = coalesce(t.billed, 0), list_total = coalesce(t.listed, 0)
        FROM imports i LEFT JOIN (SELECT import_key, sum(billed_cost) AS billed, sum(list_cost) AS listed
                                  FROM {rating.COSTS_TABLE} GROUP BY import_key) t USING (import_key)
        WHERE i.billing_month = $month AND i.focus_version IN ({versions_sql(USAGE_VERSIONS)})
            AND f.billing_month = $month AND f.source = i.source AND f.file_name = i.file_name
    """, {"month": month})
    made = [(key, inputs.fees_path, "csv", FEES_VERSION) for key in fee_keys.values()]
    made += [(key, str(settings.config_path), "yaml", SUBSIDY_VERSION) for key in credit_keys.values()]
    for key, path, fmt, version in made:
        con.execute(f"""
            INSERT INTO import_files
            SELECT i.source, i.file_name, i.billing_month, i.file_sha256, ?, ?, ?, NULL, count(*),
                sum(c.billed_cost), sum(c.list_cost), ?, ?, ?
            FROM imports i JOIN {CHARGES_TABLE} c ON c.import_key = i.import_key
            WHERE i.import_key = ? GROUP BY ALL
        """, [path, fmt, version, now, actor, run_id, key])


def summarize(con: duckdb.DuckDBPyConnection, month: str, sha: str, *, unchanged: bool = False) -> PricingSummary:
    """The month's priced rows as written (focus_rows of its usage, fees and subsidy imports)."""
    rows = con.execute(f"""
        SELECT i.source, f."ChargeCategory" = 'Credit' AS credit, f."PricingUnit", count(*),
            sum({wh.money_from_text('f."PricingQuantity"')}), sum({wh.money_from_text('f."ListCost"')}),
            sum({wh.money_from_text('f."BilledCost"')})
        FROM focus_rows f JOIN imports i ON i.import_key = f.import_key
        WHERE f.billing_month = ? AND i.focus_version IN ({versions_sql(PRICED_VERSIONS)})
        GROUP BY ALL ORDER BY ALL
    """, [month]).fetchall()
    summary = PricingSummary(month, inputs_sha256=sha, unchanged=unchanged)
    for source, credit, unit, count, quantity, listed, billed in rows:
        summary.priced_rows += count
        summary.list_total += listed
        summary.billed_total += billed
        if credit:
            summary.subsidy_total -= billed
        else:
            summary.by_source.append({"source": source, "rows": count, "quantity": quantity, "unit": unit,
                                      "list": listed, "billed": billed})
    (summary.duplicate_jobs,) = con.execute("""
        SELECT count(*) FROM usage_rows u JOIN imports i ON i.import_key = u.import_key
        WHERE u.billing_month = ? AND i.focus_version = 'slurm-sacct' AND NOT EXISTS (
            SELECT 1 FROM focus_rows f WHERE f.billing_month = u.billing_month AND f.import_key = u.import_key
            AND f.file_row_number = u.file_row_number)""", [month]).fetchall()[0]
    summary.by_rule = [
        {"rule": rule, "kind": kind, "lines": lines, "amount": amount}
        for rule, kind, lines, amount in con.execute(
            "SELECT rule_id, rule_kind, count(*), sum(amount) FROM subsidy_applications WHERE billing_month = ? "
            "GROUP BY ALL ORDER BY min(rowid)", [month]).fetchall()
    ]
    return summary


def months_affected(con: duckdb.DuckDBPyConnection, settings: OcbSettings) -> list[dict]:
    """Months whose pricing would change now ({"month", "status", "reason"}): priced with other inputs or before
    usage was imported, or never priced though they have usage or fees due (fees from the earliest month the
    warehouse knows, or imports.first_month, to this month); status open, closed or finalized."""
    sha, described = pricing_inputs(settings)
    inputs = load_inputs(settings)
    months = {m for (m,) in con.execute(
        f"SELECT DISTINCT billing_month FROM imports WHERE focus_version IN ({versions_sql(USAGE_VERSIONS)}) "
        "UNION SELECT DISTINCT billing_month FROM pricing_runs").fetchall()}
    if inputs.fees:
        (known,) = con.execute("SELECT min(m) FROM (SELECT min(period) AS m FROM billing_periods "
                               "UNION ALL SELECT min(billing_month) FROM import_files)").fetchall()[0]
        now = BillingMonth.of(wh.now_utc())
        first = BillingMonth.parse(settings.imports.first_month or known or now.key)
        months |= {m.key for m in first.through(now) if fee_charges.due_fees(inputs, m.key)}
    affected = []
    for month in sorted(months):
        state = month_state(con, month, settings.pricing.subsidies)
        last = last_run(con, month)
        if last is None and not state["usage"] and not fee_charges.due_fees(inputs, month):
            continue
        found = changes(last, sha, described, state)
        if found:
            affected.append({"month": month, "status": wh.period_status(con, month) or "open",
                             "reason": "; ".join(found)})
    return affected


def describe(summary: PricingSummary) -> str:
    """One line for logs and the CLI."""
    if summary.unchanged:
        return f"{summary.month}: priced already with the same inputs and usage; nothing written"
    return (f"{summary.month}: {summary.priced_rows:,} row(s) priced, list {exact_text(summary.list_total)}, "
            f"billed {exact_text(summary.billed_total)}, subsidy {exact_text(summary.subsidy_total)}")
