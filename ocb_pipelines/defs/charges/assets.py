"""charges_validated: typed charges with money as DECIMAL, tags mapped, every review reason kept."""


import dagster as dg

from ocb_pipelines.charges.attribution import reason_label, rules_from
from ocb_pipelines.charges.checks import revalidation_refused
from ocb_pipelines.charges.validate import ValidationGateError, build_validated
from ocb_pipelines.core.money import format_money
from ocb_pipelines.defs.ingest.assets import focus_raw
from ocb_pipelines.defs.metadata import markdown_table, money_metadata
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.pricing.assets import charges_priced
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.ingest.invoice_check import invoice_checks, invoice_differences, provisional_rows
from ocb_pipelines.services.run_tags import run_actor
from ocb_pipelines.warehouse import database as wh


@dg.asset(
    partitions_def=billing_month,
    group_name="ingest",
    kinds={"duckdb", "pandera"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    deps=[focus_raw, charges_priced],
    description=(
        "Typed charges of the month: ListCost, ContractedCost, BilledCost, EffectiveCost as DECIMAL(38,12); "
        "tags mapped to pi_email, project_id, fund_org, cost_center, account_code, reference_1/2; every reason "
        "a row needs review (missing or malformed tags, review patterns, month mismatch). Gated by a Pandera "
        "schema inside the write transaction: a failure keeps the previous state. A closed or finalized month is "
        "never validated again (the run fails saying how to reopen it, or to book late data in the next open month)."
    ),
)
def charges_validated(context: dg.AssetExecutionContext, ocb: OcbConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    settings = ocb.settings()
    month = context.partition_key
    with warehouse.get_connection() as con:
        refusal = revalidation_refused(con, month)  # a closed or finalized month: its outputs were made from it
        if refusal:
            raise dg.Failure(description=refusal, allow_retries=False, metadata={"month": month})
        try:
            summary = build_validated(con, month, rules_from(settings), run_id=context.run.run_id,
                                      actor=run_actor(context.run.tags))
        except (ValidationGateError, wh.PeriodLockedError) as exc:  # the month closed meanwhile: the guard's words
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        preview = con.execute(
            """SELECT charge_id, source, file_name, file_row_number, pi_email, project_id, fund_org,
                      billed_cost, array_to_string(review_reasons, ', ') AS reasons
               FROM charges_validated WHERE billing_month = ? AND needs_review
               ORDER BY billed_cost DESC, charge_id LIMIT 10""",
            [month],
        ).fetchall()
        provisional = provisional_rows(con, month)  # FOCUS 1.4 BillingPeriodStatus Open: the close waits
        invoices = invoice_checks(con, month)  # InvoiceDetail invoices against our charges per InvoiceId
    symbol, code = settings.currency.symbol, settings.currency.code
    preview_rows = [
        {"charge": c, "source": s, "file": f, "row": r, "PI": pi, "project": p, "fund": fo,
         "billed": format_money(b, symbol), "reasons": why}
        for c, s, f, r, pi, p, fo, b, why in preview
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(summary.rows),
            **money_metadata("billed_total", summary.billed_total, symbol, code),
            **money_metadata("list_total", summary.list_total, symbol, code),
            **money_metadata("discount_total", summary.list_total - summary.billed_total, symbol, code),
            "flagged_rows": dg.MetadataValue.int(summary.flagged_rows),
            **money_metadata("flagged_billed", summary.flagged_billed, symbol, code),
            "by_source": dg.MetadataValue.md(markdown_table([
                {"source": s["source"], "rows": s["rows"], "billed": format_money(s["billed"], symbol),
                 "flagged rows": s["flagged_rows"], "flagged billed": format_money(s["flagged_billed"], symbol)}
                for s in summary.by_source
            ])),
            "flagged_by_reason": dg.MetadataValue.md(markdown_table([
                {"reason": r["reason"], "meaning": reason_label(r["reason"]), "rows": r["rows"],
                 "billed": format_money(r["billed"], symbol)}
                for r in summary.by_reason
            ])),
            "largest_flagged": dg.MetadataValue.md(markdown_table(preview_rows)),
            "provisional_rows": dg.MetadataValue.int(provisional.rows),
            **money_metadata("provisional_billed", provisional.billed, symbol, code),
            "invoices_checked": dg.MetadataValue.int(len(invoices)),
            "invoice_differences": dg.MetadataValue.int(len(invoice_differences(invoices))),
            "invoice_reconciliation": dg.MetadataValue.md(markdown_table([
                {"invoice": c.invoice_id, "issuer": c.issuer or "", "invoice total":
                 format_money(c.invoice_total, symbol) if c.invoice_total is not None else "no invoice",
                 "our total": format_money(c.our_total, symbol), "difference": format_money(c.difference, symbol)}
                for c in invoices
            ])),
            "dagster/table_name": "charges_validated",
        }
    )
