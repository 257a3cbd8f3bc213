"""statement_deliveries_sent_once: no PI got the same statements twice without a resend (rule: delivery/checks.py)."""

import dagster as dg

from ocb_pipelines.defs.delivery.assets import statement_deliveries
from ocb_pipelines.defs.month_checks import check_result, month_check
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.delivery.checks import double_sends

SENT_ONCE_CHECK = "statement_deliveries_sent_once"


@month_check(
    asset=statement_deliveries,
    name=SENT_ONCE_CHECK,
    description=(
        "No email of the month repeats one that had reached (or may have reached) the same recipient with the "
        "same statements, unless it was an explicit resend; read from the delivery log."
    ),
)
def statement_deliveries_sent_once(context: dg.AssetCheckExecutionContext, ocb: OcbConfig,
                                   warehouse: Warehouse) -> dg.AssetCheckResult:
    currency = ocb.settings().currency
    with warehouse.get_connection() as con:
        outcome = double_sends(con, context.partition_key)
    return check_result(outcome, currency.symbol, currency.code)
