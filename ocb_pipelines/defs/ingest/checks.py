"""focus_files_pass_gate: did the month's latest import take every file it was given?

A separate check step, not a check yielded by focus_raw itself: when some files of a batch are refused, the
others have gone in (each file is whole or nothing), so focus_raw materialises them and charges_validated
validates them in the same run; this step then fails the run with the refusals (file, row, column and value)
and the files that went in. Raised from focus_raw, the failure would skip charges_validated and leave the month
imported but not validated. It is not blocking for the same reason. A batch whose files were all refused never
gets here: focus_raw itself fails and materialises nothing.
"""

import dagster as dg

from ocb_pipelines.defs.ingest.assets import focus_raw
from ocb_pipelines.defs.partitions import billing_month
from ocb_pipelines.defs.resources import Warehouse
from ocb_pipelines.services.import_runs import import_run_record, refusal_text

GATE_CHECK = "focus_files_pass_gate"


def latest_import_run(context: dg.AssetCheckExecutionContext, month: str) -> str:
    """The run of the month's latest focus_raw materialisation (this run, when the check runs with the import)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=focus_raw.key, asset_partitions=[month]), limit=1).records
    return records[0].run_id if records else context.run.run_id


@dg.asset_check(
    asset=focus_raw,
    name=GATE_CHECK,
    partitions_def=billing_month,
    description=(
        "Every file of the month's latest import passed the FOCUS gate. Fails with each refused file's row, "
        "column and value, and fails the import run itself when a file was refused."
    ),
)
def focus_files_pass_gate(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
    month = context.partition_key
    run_id = latest_import_run(context, month)
    with warehouse.get_connection() as con:
        record = import_run_record(con, month, run_id)
    yield dg.AssetCheckResult(
        passed=record.ok,
        metadata={
            "import_run": dg.MetadataValue.text(run_id),
            "refused_files": dg.MetadataValue.int(len(record.refused)),
            "imported_files": dg.MetadataValue.json(record.imported),
            "errors": dg.MetadataValue.text("\n\n".join(record.refused.values()) or "none"),
        },
    )
    if not record.ok and run_id == context.run.run_id:
        raise dg.Failure(description=refusal_text(month, record.refused, record.imported), allow_retries=False,
                         metadata={"month": month, "refused_files": dg.MetadataValue.json(sorted(record.refused)),
                                   "imported_files": dg.MetadataValue.json(record.imported)})
