"""gl_journal_balanced: the month's GL journal is balanced and equals the approved charges (rule: ledger/checks.py)."""


from ocb_pipelines.defs.ledger.assets import gl_journal
from ocb_pipelines.defs.month_checks import warehouse_month_check
from ocb_pipelines.ledger.checks import journal_check

BALANCED_CHECK = "gl_journal_balanced"


gl_journal_balanced = warehouse_month_check(
    asset=gl_journal,
    name=BALANCED_CHECK,
    description=(
        "The month's latest GL journal export: debits = credits to the cent, exported from exactly the month's "
        "approved charges as they are now (else export it again), and its file still on disk with the recorded "
        "sha256."
    ),
    rule=journal_check,
)
