"""The review state follows imports by itself: review_decisions and charges_approved are declaratively automated.

An import (inbox sensor, `ocb ingest`, the month-end schedule, a materialisation in the UI) rebuilds a month's
charges_validated; this condition then has the daemon rebuild the month's review queue and approved charges,
with no one running review_job.

Why declarative automation rather than adding the review assets to ingest_job:
- it follows charges_validated whatever updated it (an import, a UI materialisation, a re-validation), not only
  one job; and a run that already rebuilt the review state (review_job, the month end) triggers nothing,
  because `eager` ignores an update made by a run that also targeted the asset;
- an import stays an import: a review step that fails (a period closed meanwhile, a reconciliation gate) fails
  its own run with its own message, instead of turning a good import red;
- `ocb ingest` stays as fast as it is (the review assets are not in its run).
What it needs, and has here: the daemon (`ocb ui` and the production daemon run it), and this sensor on. The
sensor is defined here, on by default, rather than left to Dagster's default_automation_condition_sensor, which
is off by default and would launch runs without the warehouse tag the run queue serialises writers by.

The condition is `eager()` without its latest-time-window restriction, so a late file for an older month is
followed too, and only once every blocking check of the asset's dependencies passed for that month. Like
`eager`, it acts on changes seen while the sensor runs: it does not backfill months imported before it first
ran (review_job does that).
"""

import dagster as dg

from ocb_pipelines.services.run_tags import run_tags

SENSOR_NAME = "review_automation_sensor"  # also the actor the audit trail names for its runs

REVIEW_FOLLOWS_IMPORTS = (
    dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("review follows imports (every month)")

review_automation_sensor = dg.AutomationConditionSensorDefinition(
    SENSOR_NAME,
    target=dg.AssetSelection.assets("review_decisions", "charges_approved"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    run_tags=run_tags("sensor", SENSOR_NAME),
    emit_backfills=False,  # one tagged run per month, like every other warehouse run (the run queue limits them)
    description=(
        "Keeps each month's review queue and approved charges current: after charges_validated of a month is "
        "rebuilt (an import from the inbox, ocb ingest, the month end), rebuilds review_decisions and "
        "charges_approved for that month. On by default; nothing to run by hand."
    ),
)
