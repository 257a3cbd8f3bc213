"""charges_validated_complete: every imported row of the month is validated, to the cent (blocking).

A separate check step after charges_validated: it fails after an import killed between writing its rows and
validating them, and it stops charges_approved (and what follows) in the same run from building on a month
that would bill less than was imported. The rule is charges/checks.py's.
"""


from ocb_pipelines.charges.checks import validation_coverage
from ocb_pipelines.defs.charges.assets import charges_validated
from ocb_pipelines.defs.month_checks import warehouse_month_check

COMPLETE_CHECK = "charges_validated_complete"


charges_validated_complete = warehouse_month_check(
    asset=charges_validated,
    name=COMPLETE_CHECK,
    blocking=True,
    description=(
        "Every imported row of the month has its validated charge (same import, same row), none is left from an "
        "import a later one replaced, and validated billed = imported billed exactly. Blocking: the approved "
        "charges are not built on a partly validated month."
    ),
    rule=validation_coverage,
)
