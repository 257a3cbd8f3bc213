"""The review-sheet sensor: filled-in sheets dropped into review.review_dir start a review_job run."""


import hashlib
import json
from pathlib import Path

import dagster as dg

from ocb_pipelines.defs.resources import OcbConfig
from ocb_pipelines.defs.review.jobs import review_job
from ocb_pipelines.review.sheets import peek_sheet
from ocb_pipelines.services.calendar import billing_calendar
from ocb_pipelines.services.run_tags import run_tags

SHEET_ACTOR = "review_sheet_sensor"  # the run's actor; each sheet's decisions are audited as its own reviewer


def sheet_files(review_dir: Path) -> list[Path]:
    if not review_dir.is_dir():
        return []
    return sorted(p for p in review_dir.iterdir() if p.is_file() and p.suffix.lower() == ".csv")


def plan_sheet_runs(files, cursor: dict, valid_months: set[str], log=None) -> tuple[list[dg.RunRequest], dict]:
    """One run per new or changed sheet ({file name: sha256} cursor), in the sheet's billing month.

    A sheet without decisions (e.g. a fresh export) is skipped until it is filled in. A sheet whose month
    cannot be read gets no run (there is no partition to run it in): the warning says why, and
    `ocb review apply FILE` gives the full report.
    """
    new_cursor = dict(cursor)
    requests = []
    for path in files:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if cursor.get(path.name) == sha:
            continue
        sheet = peek_sheet(path)
        if not sheet.decided and not sheet.problems:
            if log:
                log.info(f"{path.name}: no decisions yet; waiting for it to be filled in")
            continue  # not in the cursor: looked at again once it changes
        new_cursor[path.name] = sha
        if sheet.period not in valid_months:
            if log:
                log.warning(f"{path.name}: no valid billing month ({'; '.join(sheet.problems) or sheet.period}); "
                            "not applied")
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{path.name}:{sha[:16]}",
                partition_key=sheet.period,
                run_config={"ops": {"review_decisions": {"config": {"sheets": [str(path.resolve())]}}}},
                tags={**run_tags("sensor", SHEET_ACTOR), "ocb/sheet": path.name},
            )
        )
    return requests, new_cursor


@dg.sensor(
    job=review_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Applies filled-in review sheets dropped into the review folder and rebuilds approved charges.",
)
def review_sheet_sensor(context: dg.SensorEvaluationContext, ocb: OcbConfig):
    settings = ocb.settings()
    cursor = json.loads(context.cursor) if context.cursor else {}
    valid = set(billing_calendar(settings))
    requests, new_cursor = plan_sheet_runs(sheet_files(settings.review_dir), cursor, valid, context.log)
    encoded = json.dumps(new_cursor, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new filled-in review sheets in {settings.review_dir}"),
                               cursor=encoded)
    return dg.SensorResult(run_requests=requests, cursor=encoded)
