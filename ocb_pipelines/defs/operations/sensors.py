"""Housekeeping on the daemon: free the warehouse slot of runs whose process was killed."""

import dagster as dg

from ocb_pipelines.services.dagster_runs import release_dead_runs


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Marks failed the runs of this host whose process died (killed, out of memory, power loss) and frees "
        "their ocb_warehouse slot, which would otherwise keep every later run waiting. Never starts a run."
    ),
)
def stale_runs_sensor(context: dg.SensorEvaluationContext):
    released = release_dead_runs(context.instance)
    for run_id in released:
        context.log.warning(f"run {run_id}: its process had died; marked failed, warehouse slot released")
    reason = f"released {len(released)} run(s) whose process had died" if released else "no dead runs"
    return dg.SkipReason(reason)
