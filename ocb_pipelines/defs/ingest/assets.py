"""focus_raw: every FOCUS file of the month, every column, with lineage (source, file, sha256, row)."""


from decimal import Decimal

import dagster as dg

from ocb_pipelines.core.money import format_money
from ocb_pipelines.defs.metadata import markdown_table, money_metadata
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.ingest.service import import_month, month_files
from ocb_pipelines.pricing.late_usage import MonthRepricing
from ocb_pipelines.services.import_runs import refusal_text
from ocb_pipelines.services.run_tags import run_actor
from ocb_pipelines.warehouse.period_guard import PeriodLockedError

BOOKED_IN = "adjustments_booked_in"  # metadata: the open months a late file's adjustments were booked in


class FocusImportConfig(dg.Config):
    """Which files to import. Leave `files` empty to import every inbox file with rows in the month."""

    files: list[str] = []  # noqa: RUF012 (dagster.Config copies defaults)
    source: str = ""
    expected_period: str = ""


@dg.asset(
    partitions_def=billing_month,
    group_name="ingest",
    kinds={"duckdb"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    description=(
        "Raw FOCUS rows of the billing month from every source (CSV, CSV.gz, Parquet; FOCUS 1.0-1.3), all "
        "columns kept as written, with lineage: source, file name, file sha256, row number. Each file is "
        "gated by the FOCUS structure schema and replaced atomically; a refused file writes nothing. A run whose "
        "files were all refused fails with the refusal and materialises nothing (the month is not opened); a "
        "partly refused batch is failed by the check focus_files_pass_gate, after the files that passed went in."
    ),
)
def focus_raw(context: dg.AssetExecutionContext, config: FocusImportConfig, ocb: OcbConfig, warehouse: Warehouse):
    settings = ocb.settings()
    month = context.partition_key
    with warehouse.get_connection() as con:
        try:
            outcome = import_month(
                con, settings, month, files=config.files, source=config.source or None,
                expected_period=config.expected_period or None, run_id=context.run.run_id,
                actor=run_actor(context.run.tags), late_usage=MonthRepricing(settings),
            )
        except PeriodLockedError as exc:  # a closed or finalized month: nothing was written
            raise dg.Failure(description=str(exc), metadata={"month": month}, allow_retries=False) from None
        files = month_files(con, month)
    for error in outcome.refused.values():
        context.log.error(error)
    if outcome.refused and not outcome.results:
        # Every file was refused: nothing changed, so nothing is materialised (a 0-row partition would show the
        # month as imported) and the run fails with the refusal itself.
        raise dg.Failure(description=refusal_text(month, outcome.refused), allow_retries=False, metadata={
            "month": month, "refused_files": dg.MetadataValue.json(sorted(outcome.refused)),
        })
    symbol, code = settings.currency.symbol, settings.currency.code
    files_table = [
        {"source": f.source, "file": f.file_name, "FOCUS": f.focus_version, "rows": f.row_count,
         "billed": format_money(f.billed_total, symbol), "sha256": f.file_sha256[:12]}
        for f in files
    ]
    this_run = [
        {"file": r.file_name, "source": r.source, "status": r.status, "rows": r.rows,
         "note": r.message or ("filled: " + "; ".join(r.filled) if r.filled else "")}
        for r in outcome.results
    ] + [{"file": name, "status": "refused", "note": err.splitlines()[0]} for name, err in outcome.refused.items()]
    by_source: dict[str, int] = {}
    for f in files:
        by_source[f.source] = by_source.get(f.source, 0) + f.row_count
    billed = sum((f.billed_total for f in files), Decimal(0))
    listed = sum((f.list_total for f in files), Decimal(0))
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(sum(f.row_count for f in files)),
            "files": dg.MetadataValue.int(len(files)),
            **money_metadata("billed_total", billed, symbol, code),
            **money_metadata("list_total", listed, symbol, code),
            **money_metadata("discount_total", listed - billed, symbol, code),
            "rows_by_source": dg.MetadataValue.json(by_source),
            "files_in_month": dg.MetadataValue.md(markdown_table(files_table)),
            "this_run": dg.MetadataValue.md(markdown_table(this_run, ["file", "source", "status", "rows", "note"])),
            # Late data for this closed month: the open months its adjustment lines went to (late_data_sensor).
            BOOKED_IN: dg.MetadataValue.json(sorted({r.booked_month for r in outcome.results if r.booked_month})),
            "dagster/table_name": "focus_raw",
        }
    )
