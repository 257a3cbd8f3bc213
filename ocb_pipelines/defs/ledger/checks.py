"""gl_journal_balanced: the month's GL journal is balanced and equals the approved charges (rule: ledger/checks.py)."""

import dagster as dg

from ocb_pipelines.defs.ledger.assets import gl_journal
from ocb_pipelines.defs.month_checks import check_result, month_check
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.ledger.checks import journal_check

BALANCED_CHECK = "gl_journal_balanced"


@month_check(
    asset=gl_journal,
    name=BALANCED_CHECK,
    description=(
        "The month's latest GL journal export: debits = credits to the cent, exported from exactly the month's "
        "approved charges as they are now (else export it again), and its file still on disk with the recorded "
        "sha256."
    ),
)
def gl_journal_balanced(context: dg.AssetCheckExecutionContext, ocb: OcbConfig,
                        warehouse: Warehouse) -> dg.AssetCheckResult:
    currency = ocb.settings().currency
    with warehouse.get_connection() as con:
        outcome = journal_check(con, context.partition_key, currency.symbol)
    return check_result(outcome, currency.symbol, currency.code)
