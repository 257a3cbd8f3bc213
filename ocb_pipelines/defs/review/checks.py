"""The review step's checks, per month: decisions name known charges (review_decisions), and the month
reconciles, imported = approved + pending + rejected to the cent (charges_approved, blocking).

charges_approved's own gate (`charges_approved_gate`, its Pandera schema) is yielded by the asset itself; these
are separate steps that read the warehouse after it. The rules are review/checks.py's and periods/reconcile.py's.
"""


from ocb_pipelines.defs.month_checks import warehouse_month_check
from ocb_pipelines.defs.review.assets import charges_approved, review_decisions
from ocb_pipelines.periods.reconcile import reconciliation_check
from ocb_pipelines.review.checks import decisions_on_unknown_charges

KNOWN_CHARGES_CHECK = "decisions_name_known_charges"
RECONCILED_CHECK = "charges_reconciled"


decisions_name_known_charges = warehouse_month_check(
    asset=review_decisions,
    name=KNOWN_CHARGES_CHECK,
    description=(
        "Every review decision of the month names one of its validated charges. A warning, not an error: a "
        "decision whose charge has gone (a corrected file dropped or changed its line) applies to nothing, and "
        "nothing billed changes; the table lists them."
    ),
    rule=decisions_on_unknown_charges,
)


charges_reconciled = warehouse_month_check(
    asset=charges_approved,
    name=RECONCILED_CHECK,
    blocking=True,
    description=(
        "The month reconciles: imported billed = approved + pending + rejected, exactly (Decimal), every imported "
        "row validated, and charges_approved holds what the review state approves. Blocking: statements and the "
        "journal are not made from a month that does not add up."
    ),
    rule=reconciliation_check,
)
