"""charges_priced: the month's usage and fixed fees priced with the rates, and the subsidy rules applied."""

import dagster as dg

from ocb_pipelines.core.money import format_money
from ocb_pipelines.defs.ingest.assets import focus_raw
from ocb_pipelines.defs.metadata import markdown_table, money_metadata
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.pricing.engine import PricingRefused, price_month
from ocb_pipelines.pricing.files import PricingFileError
from ocb_pipelines.services.run_tags import run_actor
from ocb_pipelines.warehouse.period_guard import PeriodLockedError


@dg.asset(
    partitions_def=billing_month,
    group_name="ingest",
    kinds={"duckdb"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    deps=[focus_raw],
    description=(
        "Usage priced into charges: Slurm jobs (billing TRES, or CPU, GPU and memory hours) and storage reports "
        "(TB-months) at the rate in force on the day each ended (pricing.rates_file: dated, tiered per project "
        "per month, by group), fixed fees due this month (pricing.fees_file), attributed through "
        "pricing.accounts_file; then the subsidy rules (allowance, percent, cap, credit), each applied rule a "
        "credit line naming it. Written as FOCUS rows under each usage file's import, so every charge keeps its "
        "file, sha256 and line. Re-priced when a rate, fee, account file or rule changed; a closed or finalized "
        "month is never re-priced (the run fails and says which inputs changed)."
    ),
)
def charges_priced(context: dg.AssetExecutionContext, ocb: OcbConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    settings = ocb.settings()
    month = context.partition_key
    with warehouse.get_connection() as con:
        try:
            summary = price_month(con, settings, month, run_id=context.run.run_id, actor=run_actor(context.run.tags))
        except (PricingRefused, PricingFileError, PeriodLockedError) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False, metadata={"month": month}) from None
    symbol, code = settings.currency.symbol, settings.currency.code
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(summary.priced_rows),
            **money_metadata("billed_total", summary.billed_total, symbol, code),
            **money_metadata("list_total", summary.list_total, symbol, code),
            **money_metadata("discount_total", summary.list_total - summary.billed_total, symbol, code),
            **money_metadata("subsidy_rules_total", summary.subsidy_total, symbol, code),
            "unchanged": dg.MetadataValue.bool(summary.unchanged),
            "duplicate_jobs": dg.MetadataValue.int(summary.duplicate_jobs),
            "inputs_sha256": dg.MetadataValue.text(summary.inputs_sha256),
            "by_source": dg.MetadataValue.md(markdown_table([
                {**row, **{k: format_money(row[k], symbol) for k in ("list", "billed") if k in row}}
                for row in summary.by_source
            ])),
            "by_rule": dg.MetadataValue.md(markdown_table([
                {**row, **({"amount": format_money(row["amount"], symbol)} if "amount" in row else {})}
                for row in summary.by_rule
            ])),
        }
    )
