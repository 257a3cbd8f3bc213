"""`pi_history`: billed, list and subsidy per PI and project over the partition's month and the 11 before it.

Plots: the month's own totals are numeric metadata (whole cents, counts), so the asset's Plots tab draws one point
per billing month. Its axis is the asset's partition keys, which definitions.build_definitions rebinds to the
warehouse's calendar (its first billing month to the running month), not every month since 2020.
"""

import dagster as dg

from ocb_pipelines.core.money import format_money
from ocb_pipelines.defs.metadata import capped_table, markdown_table, money_metadata
from ocb_pipelines.defs.month_checks import month_check_spec
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.defs.review.assets import charges_approved
from ocb_pipelines.statements.pi_history import ZERO, History
from ocb_pipelines.statements.pi_history_table import HistoryGateError, build_pi_history

PI_HISTORY_GATE = "pi_history_gate"
TABLE_ROWS = 100  # PI x project rows shown in the metadata table (the warehouse table has them all)


def _month_rows(history: History, symbol: str) -> list[dict[str, object]]:
    return [{"month": t["month"], "billed": format_money(t["billed"], symbol), "list": format_money(t["list"], symbol),
             "subsidy": format_money(t["subsidy"], symbol), "PIs": t["pis"], "projects": t["projects"],
             "gaps": t["gaps"]} for t in history.month_totals()]


def _pi_rows(history: History, symbol: str) -> list[dict[str, object]]:
    """One row per PI and project, its billed amount per month ('gap' where it had no charges; blank before its
    first month in the window)."""
    rows = []
    for (pi, project), months in history.by_statement().items():
        row: dict[str, object] = {"PI": pi or "(no PI)", "project": project}
        found = {m.month: m for m in months}
        for month in history.months:
            m = found.get(month)
            row[month] = "" if m is None else "gap" if m.gap else format_money(m.billed_total, symbol)
        rows.append(row)
    return rows


@dg.asset(
    partitions_def=billing_month,
    group_name="statements",
    kinds={"duckdb", "pandera"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    deps=[charges_approved],
    check_specs=[month_check_spec(PI_HISTORY_GATE, asset="pi_history", blocking=True,
                                  description="Pandera gate before the slice is written: exact money, subsidy = list - "
                                              "billed, gaps empty, one row per PI, project and month, each month's "
                                              "billed total equal to its approved charges. Blocking.")],
    description=(
        "Each PI and project's months side by side: billed, list price and subsidy (list - billed) per month over "
        "the partition's month and the 11 before it (only months the warehouse has), from the approved charges. "
        "A month without charges after earlier ones in the window is a gap. Stored in the `pi_history` table; the "
        "month's totals are plotted per month in the Plots tab. Statements print the last 6 months the same way."
    ),
)
def pi_history(context: dg.AssetExecutionContext, ocb: OcbConfig, warehouse: Warehouse):
    settings = ocb.settings()
    month = context.partition_key
    with warehouse.get_connection() as con:
        try:
            result = build_pi_history(con, month, run_id=context.run.run_id)
        except HistoryGateError as exc:
            yield dg.AssetCheckResult(check_name=PI_HISTORY_GATE, passed=False,
                                      metadata={"error": dg.MetadataValue.md(f"```\n{exc}\n```")})
            raise dg.Failure(description=str(exc), allow_retries=False) from None
    history = result.history
    symbol, code = settings.currency.symbol, settings.currency.code
    this = next((t for t in history.month_totals() if t["month"] == month),  # a month the warehouse lacks: zeros
                {"billed": ZERO, "list": ZERO, "subsidy": ZERO, "pis": 0, "projects": 0, "gaps": 0})
    pis = _pi_rows(history, symbol)
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(result.rows_written),
        **money_metadata("billed_total", this["billed"], symbol, code),
        **money_metadata("list_total", this["list"], symbol, code),
        **money_metadata("subsidy_total", this["subsidy"], symbol, code),
        "pis": dg.MetadataValue.int(int(this["pis"])),  # type: ignore[call-overload]
        "projects": dg.MetadataValue.int(int(this["projects"])),  # type: ignore[call-overload]
        "gaps": dg.MetadataValue.int(int(this["gaps"])),  # type: ignore[call-overload]
        "months": dg.MetadataValue.int(len(history.months)),
        "window": dg.MetadataValue.text(f"{history.months[0]} .. {history.months[-1]}" if history.months else "-"),
        "history": dg.MetadataValue.md(markdown_table(_month_rows(history, symbol))),
        "pi_projects": dg.MetadataValue.md(capped_table(pis[:TABLE_ROWS], len(pis), "PI x project rows",
                                                        more="the rest are in the pi_history table")),
        "dagster/table_name": "pi_history",
    })
    yield dg.AssetCheckResult(check_name=PI_HISTORY_GATE, passed=True, metadata={
        "rows": dg.MetadataValue.int(result.rows_written), "months": dg.MetadataValue.int(len(history.months))})
