"""statement_deliveries_sent_once: no PI got the same statements twice without a resend (rule: delivery/checks.py)."""


from ocb_pipelines.defs.delivery.assets import statement_deliveries
from ocb_pipelines.defs.month_checks import warehouse_month_check
from ocb_pipelines.delivery.checks import double_sends

SENT_ONCE_CHECK = "statement_deliveries_sent_once"


statement_deliveries_sent_once = warehouse_month_check(
    asset=statement_deliveries,
    name=SENT_ONCE_CHECK,
    description=(
        "No email of the month repeats one that had reached (or may have reached) the same recipient with the "
        "same statements, unless it was an explicit resend; read from the delivery log."
    ),
    rule=lambda con, month, _symbol: double_sends(con, month),
)
