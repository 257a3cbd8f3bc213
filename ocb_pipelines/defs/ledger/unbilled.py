"""unbilled_report: what the month imported and did not bill, by source and reason, as a CSV in the journal folder.

The report itself is ledger/unbilled.py (the same one `ocb unbilled -p M` prints); this asset writes its CSV next
to the GL journal, for finance, and shows the totals and the groups in its metadata.
"""

import dagster as dg

from ocb_pipelines.core.money import format_money
from ocb_pipelines.defs.metadata import markdown_table, money_metadata
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.defs.review.assets import charges_approved
from ocb_pipelines.ledger.targets import output_target
from ocb_pipelines.ledger.unbilled import REASONS, ZERO_PRICED, UnbilledError, build_report
from ocb_pipelines.ledger.unbilled import write_report_csv as write_csv


@dg.asset(
    partitions_def=billing_month,
    group_name="ledger",
    kinds={"duckdb", "csv"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    deps=[charges_approved],
    description=(
        "Every charge of the month that was imported but not billed to a PI's project, with its money and "
        "reason: rejected (the reviewer's note), ownerless (no PI or no project), pending (its review reasons) and "
        "zero-priced (billed 0 for a list price or quantity above 0). Written as unbilled_<month>.csv into the "
        "journal folder (output.journal_dir), never overwritten; the metadata shows imported = approved + pending "
        "+ rejected and what of the approved money reached a PI's statement. `ocb unbilled -p M` prints the same."
    ),
)
def unbilled_report(context: dg.AssetExecutionContext, ocb: OcbConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    settings = ocb.settings()
    month = context.partition_key
    with warehouse.get_connection() as con:
        report = build_report(con, month)
    try:
        path, status, sha = write_csv(report, output_target(None, settings.output.journal_dir)[0])
    except UnbilledError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    symbol, code = settings.currency.symbol, settings.currency.code
    totals = report.totals()
    groups = [{"source": g.source, "reason": g.reason, "charges": g.charges,
               "billed": format_money(g.billed, symbol), "list": format_money(g.list_total, symbol)}
              for g in report.groups]
    problems = report.problems(symbol)
    for problem in problems:
        context.log.warning(problem)
    context.log.info(f"{status}: {path} ({len(report.lines)} line(s))")
    return dg.MaterializeResult(metadata={
        "status": dg.MetadataValue.text(status),
        "path": dg.MetadataValue.path(str(path)),
        "sha256": dg.MetadataValue.text(sha),
        "dagster/row_count": dg.MetadataValue.int(len(report.lines)),
        "period_status": dg.MetadataValue.text(report.period_status),
        **money_metadata("imported_billed", report.figures.imported_billed, symbol, code),
        **money_metadata("approved_billed", report.figures.approved_billed, symbol, code),
        **money_metadata("pending_billed", report.figures.pending_billed, symbol, code),
        **money_metadata("rejected_billed", report.figures.rejected_billed, symbol, code),
        **money_metadata("ownerless_billed", report.ownerless_billed, symbol, code),
        **money_metadata("statement_billed", report.statement_billed, symbol, code),
        **money_metadata("unbilled_billed", report.unbilled_billed, symbol, code),
        **money_metadata("zero_priced_list", totals["reasons"][ZERO_PRICED]["list"], symbol, code),
        **{f"{reason}_charges": dg.MetadataValue.int(report.by_reason(reason)[0])
           for reason in REASONS},
        "reconciled": dg.MetadataValue.bool(not problems),
        "reconciliation": dg.MetadataValue.md("\n\n".join(report.describe(symbol) + problems)),
        "by_source_and_reason": dg.MetadataValue.md(markdown_table(groups, ["source", "reason", "charges", "billed",
                                                                            "list"])),
    })

