"""Who started a run, and how: the tags every run that writes the warehouse carries.

- `ocb/warehouse: write`: the run writes the DuckDB file (dagster.yaml lets one such run go at a time);
- `ocb/trigger`: cli, desk, sensor, schedule or ui;
- `ocb/actor`: who the audit trail names for what the run does.

`ocb`'s own launches (the CLI, the desk, the sensors and the schedule) set all three when they create the run.
Runs that Dagster creates by itself (the UI's asset pages and Launchpad, re-executions, backfills, its GraphQL
API) carry none of them, or carry tags copied from the run they re-execute. For those the actor is the run's
`dagster/user` tag (set by an authenticating proxy or Dagster+), else `dagster-ui`: never the OS user the
webserver happens to run as, and never a name typed into the Launchpad. `resolve_run_tags` works the tags out
from those a run was created with; the Warehouse resource adds them when the run starts, and every asset audits
as `run_actor(run.tags)`. Plain functions of the tags, so both always agree.
"""

from __future__ import annotations

from collections.abc import Mapping

WAREHOUSE_RUN_TAGS = {"ocb/warehouse": "write"}
TRIGGER_TAG = "ocb/trigger"
ACTOR_TAG = "ocb/actor"
TRIGGERS = ("cli", "desk", "sensor", "schedule", "ui")
UI_ACTOR = "dagster-ui"  # a UI run where no proxy or Dagster+ named the user

# Tags Dagster itself sets (dagster._core.storage.tags; the UI adds dagster/from_ui to every launch it makes)
FROM_UI_TAG = "dagster/from_ui"
USER_TAG = "dagster/user"
SENSOR_TAG = "dagster/sensor_name"
SCHEDULE_TAG = "dagster/schedule_name"


def run_tags(trigger: str, actor: str) -> dict[str, str]:
    """The tags `ocb` puts on a run it launches: the warehouse tag, how it was started and who acts."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown run trigger {trigger!r}: one of {', '.join(TRIGGERS)}")
    if not actor.strip():
        raise ValueError("a run needs an actor")
    return {**WAREHOUSE_RUN_TAGS, TRIGGER_TAG: trigger, ACTOR_TAG: actor.strip()}


def ui_actor(tags: Mapping[str, str]) -> str:
    """Who acts in a run launched from the Dagster UI: the proxy's or Dagster+'s `dagster/user`, else `dagster-ui`."""
    return tags.get(USER_TAG, "").strip() or UI_ACTOR


def resolve_run_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The warehouse, trigger and actor tags of a run, from the tags it was created with.

    A launch from the UI (`dagster/from_ui`, also on a re-execution of a CLI or sensor run) is a UI action,
    whatever `ocb/*` tags it copied or was given. A run `ocb` started keeps its own. A run with no `ocb/trigger`
    was started by a sensor (declarative automation too), a schedule, or else Dagster's UI or API."""
    if tags.get(FROM_UI_TAG) == "true" or tags.get(TRIGGER_TAG) == "ui":
        return run_tags("ui", ui_actor(tags))
    trigger = tags.get(TRIGGER_TAG, "").strip()
    if trigger:
        actor = tags.get(ACTOR_TAG, "").strip() or tags.get(SENSOR_TAG) or tags.get(SCHEDULE_TAG) or trigger
        return {**WAREHOUSE_RUN_TAGS, TRIGGER_TAG: trigger, ACTOR_TAG: actor}
    if tags.get(SENSOR_TAG):
        return run_tags("sensor", tags[SENSOR_TAG])
    if tags.get(SCHEDULE_TAG):
        return run_tags("schedule", tags[SCHEDULE_TAG])
    return run_tags("ui", ui_actor(tags))


def run_actor(tags: Mapping[str, str]) -> str:
    """Who the audit trail names for what a run does (see resolve_run_tags)."""
    return resolve_run_tags(tags)[ACTOR_TAG]
