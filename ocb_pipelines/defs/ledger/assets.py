"""gl_journal: the month's balanced GL journal for accounting, exported from the approved charges.

The asset is always the GL journal: the listing layouts (standard, summary, openchargeback) are exports made by
the journal export service (services/journal.py), never a materialisation of this asset.
"""

from decimal import Decimal

import dagster as dg

from ocb_pipelines.core.money import exact_text, format_money
from ocb_pipelines.defs.metadata import markdown_table, money_metadata
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.defs.review.assets import charges_approved
from ocb_pipelines.ledger.export import ExportRefused, export_journal
from ocb_pipelines.ledger.journal import JournalRefused
from ocb_pipelines.services.run_tags import run_actor

PREVIEW_LINES = 25


class JournalConfig(dg.Config):
    """Where the GL journal file goes: a folder or a file name. Leave empty for output.journal_dir.

    Always the GL layout; other layouts are exports (`ocb export-journal -f summary`)."""

    output_dir: str = ""


@dg.asset(
    partitions_def=billing_month,
    group_name="ledger",
    kinds={"duckdb", "pandera", "csv"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    deps=[charges_approved],
    description=(
        "The month's GL journal for accounting (journal.template, default templates/journal_gl.csv): one debit per "
        "(PI fund, source, account, reference) and one credit per (source, account) to the source's fund, balanced "
        "to the cent. Exported only from a closed or finalized month with nothing pending; refused, with every "
        "culprit listed and no file written, when it would not balance. Files are never overwritten. Other layouts "
        "(standard, summary, openchargeback) are exports of `ocb export-journal -f`, not materialisations."
    ),
)
def gl_journal(context: dg.AssetExecutionContext, config: JournalConfig, ocb: OcbConfig,
               warehouse: Warehouse) -> dg.MaterializeResult:
    settings = ocb.settings()
    month = context.partition_key
    with warehouse.get_connection() as con:
        try:
            result = export_journal(con, settings, month, "gl", out_dir=config.output_dir or None,
                                    actor=run_actor(context.run.tags), run_id=context.run.run_id)
        except (ExportRefused, JournalRefused) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False,
                             metadata={"problems": dg.MetadataValue.json(exc.problems[:100])}) from None
    symbol, code = settings.currency.symbol, settings.currency.code
    preview = [{"side": x.side, "fund_org": x.fund_org, "account": x.account, "source": x.source,
                "debit": format_money(x.debit, symbol) if x.debit is not None else "",
                "credit": format_money(x.credit, symbol) if x.credit is not None else "",
                "description": x.description, "reference": x.reference_id}
               for x in result.journal.lines[:PREVIEW_LINES]]
    context.log.info(f"{result.status}: {result.file_path} ({result.line_count} lines)")
    return dg.MaterializeResult(
        metadata={
            "status": dg.MetadataValue.text(result.status),
            "path": dg.MetadataValue.path(str(result.file_path)),
            "sha256": dg.MetadataValue.text(result.sha256),
            "dagster/row_count": dg.MetadataValue.int(result.line_count),
            "charges": dg.MetadataValue.int(result.charge_count),
            **money_metadata("approved_total", result.approved_total, symbol, code),
            **money_metadata("debit_total", result.debit_total, symbol, code),
            **money_metadata("credit_total", result.credit_total, symbol, code),
            "period_status": dg.MetadataValue.text(result.period_status),
            "template": dg.MetadataValue.text(result.template or ""),
            "export_id": dg.MetadataValue.int(result.export_id),
            # The export as the journal export service reports it (amounts as exact text): a run's result is
            # read from its metadata, never worked out again from the audit log.
            "export": dg.MetadataValue.json({k: exact_text(v) if isinstance(v, Decimal) else v
                                             for k, v in result.details().items()}),
            "preview": dg.MetadataValue.md(
                markdown_table(preview)
                + (f"\n\n_first {PREVIEW_LINES} of {result.line_count} lines_" if result.line_count > PREVIEW_LINES
                   else "")
            ),
        }
    )
