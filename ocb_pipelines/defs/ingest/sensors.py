"""The inbox sensor: new or changed FOCUS files in data/inbox/ start one import run per month touched."""


import hashlib
import json
from collections import defaultdict

import dagster as dg

from ocb_pipelines.defs.ingest.jobs import ingest_job
from ocb_pipelines.defs.ingest.late import late_import_job
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.ingest.focus import months_named_in
from ocb_pipelines.ingest.importer import ImportRefused, inspect_file
from ocb_pipelines.ingest.service import inbox_files, source_timezone
from ocb_pipelines.periods.lifecycle import list_periods
from ocb_pipelines.services.calendar import billing_calendar
from ocb_pipelines.services.run_tags import run_tags

INBOX_ACTOR = "inbox_sensor"  # who imported a file dropped into the inbox: the audit log and the run's tags say so


def plan_inbox_runs(files, cursor: dict, valid_months: set[str], log=None, timezone_of=lambda path: "UTC",
                    locked_months: frozenset[str] = frozenset()) -> tuple[list[dg.RunRequest], dict]:
    """Compare the inbox with the cursor ({file name: size, mtime, sha256, months}); plan runs per month.

    A changed file re-runs the months it has rows in now and the months it had rows in before, so a
    corrected file that dropped a month removes its old rows there too. `timezone_of(path)`: the file's source's
    time zone (a sacct file's jobs belong to the months of their UTC ends). A month in `locked_months` (closed or
    finalized) gets a late_import_job run: its rows are late data, booked in the next open month.
    """
    new_cursor = dict(cursor)
    by_month: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in files:
        stat = path.stat()
        previous = cursor.get(path.name) or {}
        if previous.get("size") == stat.st_size and previous.get("mtime_ns") == stat.st_mtime_ns:
            continue
        try:
            facts = inspect_file(path, timezone=timezone_of(path))
            sha, months, error = facts.sha256, set(facts.months), ""
        except ImportRefused as exc:
            with open(path, "rb") as handle:
                sha = hashlib.sha256(handle.read(1 << 20)).hexdigest()
            months, error = set(months_named_in(path.name)), str(exc)
            if log:
                log.warning(str(exc))
        entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha, "months": sorted(months)}
        new_cursor[path.name] = entry
        if previous.get("sha256") == sha and not error:
            continue  # touched, same content
        for month in sorted(months | set(previous.get("months", []))):
            if month in valid_months:
                by_month[month].append((str(path), sha))
            elif log:
                first, last = min(valid_months, default=""), max(valid_months, default="")
                log.warning(f"{path.name}: month {month} is outside the billing calendar ({first} to {last}); "
                            "skipped: set imports.first_month, or import it with `ocb ingest`")
    requests = []
    for month, entries in sorted(by_month.items()):
        digest = hashlib.sha256("|".join(f"{p}:{s}" for p, s in sorted(entries)).encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"{month}:{digest}",
                partition_key=month,
                job_name=late_import_job.name if month in locked_months else ingest_job.name,
                run_config={"ops": {"focus_raw": {"config": {"files": [p for p, _ in sorted(entries)]}}}},
                tags=run_tags("sensor", INBOX_ACTOR),
            )
        )
    return requests, new_cursor


@dg.sensor(
    jobs=[ingest_job, late_import_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Imports new or changed FOCUS files dropped into the inbox folder, one run per month they touch.",
)
def focus_inbox_sensor(context: dg.SensorEvaluationContext, ocb: OcbConfig, warehouse: Warehouse):
    settings = ocb.settings()
    cursor = json.loads(context.cursor) if context.cursor else {}
    valid = set(billing_calendar(settings))
    with warehouse.get_connection() as con:
        locked = frozenset(p.period for p in list_periods(con) if p.status != "open")
    requests, new_cursor = plan_inbox_runs(inbox_files(settings), cursor, valid, context.log,
                                           lambda path: source_timezone(settings, path), locked)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new or changed files in {settings.inbox_dir}"),
                               cursor=json.dumps(new_cursor, sort_keys=True))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(new_cursor, sort_keys=True))
