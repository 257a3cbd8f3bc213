"""`statements`: one PDF and one CSV per PI and project for a closed billing month."""

import dagster as dg

from ocb_pipelines.core.money import format_money
from ocb_pipelines.defs.metadata import markdown_table, money_metadata
from ocb_pipelines.defs.month_checks import month_check_spec
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.defs.review.assets import charges_approved
from ocb_pipelines.defs.statements.lineage import lineage_metadata
from ocb_pipelines.services.run_tags import run_actor
from ocb_pipelines.statements.generate import StatementPeriodError, generate_statements
from ocb_pipelines.statements.render import TemplateRefused
from ocb_pipelines.statements.schemas import StatementGateError

STATEMENTS_GATE = "statements_gate"


class StatementsConfig(dg.Config):
    """Rendering processes (WeasyPrint is CPU-bound; one per core)."""

    workers: int = 2


@dg.asset(
    partitions_def=billing_month,
    group_name="statements",
    kinds={"duckdb", "pandera", "pdf"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    # Not pi_history: each statement works out its 6 months with the same domain function (statements/pi_history.py),
    # so materialising statements alone (the UI's Materialize) needs no history stored first.
    deps=[charges_approved],
    check_specs=[month_check_spec(STATEMENTS_GATE, asset="statements", blocking=True,
                                  description="Pandera gate, before anything is rendered: the month's statement totals "
                                              "equal its approved charges to the cent, fund shares add up to 100%. "
                                              "Blocking; on failure nothing is written and the run fails.")],
    description=(
        "One PDF statement (and a CSV of every charge line) per PI and project for a closed month with nothing "
        "pending: list price, discount or subsidy, billed amount, fund shares, charges by service and the largest "
        "resources, the last 6 months of the PI and project (gaps marked) and the lines adjusting earlier months "
        "(late data), apart, with their origin. Gated by Pandera (totals equal the approved charges to the cent) "
        "before anything is rendered; "
        "only statements whose content hash changed are re-rendered. Recorded in the `statements` table."
    ),
)
def statements(context: dg.AssetExecutionContext, config: StatementsConfig, ocb: OcbConfig, warehouse: Warehouse):
    settings = ocb.settings()
    month = context.partition_key
    with warehouse.get_connection() as con:
        try:
            result = generate_statements(con, settings, month, run_id=context.run.run_id,
                                         actor=run_actor(context.run.tags),
                                         workers=max(1, config.workers))
        except TemplateRefused as exc:
            raise dg.Failure(description=f"{exc}; no statement was rendered", allow_retries=False) from None
        except (StatementGateError, StatementPeriodError) as exc:
            yield dg.AssetCheckResult(check_name=STATEMENTS_GATE, passed=False,
                                      metadata={"error": dg.MetadataValue.md(f"```\n{exc}\n```")})
            raise dg.Failure(description=str(exc), allow_retries=False) from None
    symbol, code = settings.currency.symbol, settings.currency.code
    rows = [
        {"PI": o.statement.pi_email, "project": o.statement.project_id, "status": o.status,
         "funds": ", ".join(f"{f.fund_org} {f.percent}%" for f in o.statement.funds),
         "list": format_money(o.statement.list_total, symbol),
         "discount": f"{o.statement.discount_percent}%", "billed": format_money(o.statement.billed_total, symbol),
         "lines": o.statement.line_count, "pdf": o.pdf_path.name}
        for o in result.outcomes[:100]
    ]  # fmt: skip
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(result.outcomes)),
            "rendered": dg.MetadataValue.int(result.count("rendered")),
            "unchanged": dg.MetadataValue.int(result.count("unchanged")),
            "removed": dg.MetadataValue.int(len(result.removed)),
            "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
            **money_metadata("list_total", result.list_total, symbol, code),
            **money_metadata("billed_total", result.billed_total, symbol, code),
            **money_metadata("discount_total", result.list_total - result.billed_total, symbol, code),
            "output_dir": dg.MetadataValue.path(str(result.output_dir)),
            "statements": dg.MetadataValue.md(markdown_table(rows)),
            **lineage_metadata((o.statement for o in result.outcomes), symbol),
            "removed_statements": dg.MetadataValue.md(markdown_table(result.removed[:50])),
            "dagster/table_name": "statements",
        }
    )
    # After the materialisation, so the result is recorded against it.
    yield dg.AssetCheckResult(check_name=STATEMENTS_GATE, passed=True, metadata={
        "statements": dg.MetadataValue.int(len(result.outcomes)),
        **money_metadata("billed_total", result.billed_total, symbol, code)})
