"""unbilled_report as Dagster runs it: in the month-end output job after charges_approved, its CSV in the journal
folder beside the GL journal, its metadata the totals (exact text and whole cents), the groups and the path."""

from __future__ import annotations

import csv
import io

import dagster as dg

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.ledger.unbilled import build_report
from ocb_pipelines.periods.lifecycle import close_period
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

MONTH = "2025-01"
HOSTILE = "@SUM(A1:A9)|x"


def _closed_month(settings: OcbSettings) -> None:
    """aws: 10.00 billed, 2.25 rejected (a test box), 0 for a list of 8.00; the month closed."""
    path = write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", [
        charge_row(resource="ok", billed="10.00"),
        charge_row(resource="test-box", billed="2.25", service=HOSTILE),
        charge_row(resource="free", billed="0", ListCost="8.00"),
    ])
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[MONTH], source="aws")
        build_validated(con, MONTH, rules_from(settings))
        (flagged,) = rd.select_charge_ids(con, MONTH, reason="pattern_match")
        rd.record_decisions(con, MONTH, [rd.Decision(flagged, "reject", "=not ours")], actor="t", via="cli")
        build_approved(con, MONTH)
        close_period(con, MONTH, "tester")


def test_month_end_outputs_write_the_unbilled_csv_after_charges_approved(settings, monkeypatch):
    monkeypatch.setenv("OCB_ACTOR", "tester")
    _closed_month(settings)
    defs = build_definitions(settings.config_path)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("month_end_outputs_job").execute_in_process(
            partition_key=MONTH, instance=instance, tags=WAREHOUSE_RUN_TAGS)
    assert result.success
    order = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
    assert order.index("charges_approved") < order.index("unbilled_report")
    metadata = result.asset_materializations_for_node("unbilled_report")[0].metadata
    path = settings.output.journal_dir / f"unbilled_{MONTH}.csv"
    assert metadata["path"].value == str(path) and metadata["status"].value == "written"
    assert (settings.output.journal_dir / f"journal_gl_{MONTH}.csv").is_file()  # the same folder
    assert metadata["imported_billed"].value == "$12.25 USD" and metadata["imported_billed_cents"].value == 1225
    assert metadata["rejected_billed_cents"].value == 225 and metadata["pending_billed_cents"].value == 0
    assert metadata["statement_billed_cents"].value == 1000 and metadata["unbilled_billed_cents"].value == 225
    assert metadata["zero_priced_list_cents"].value == 800 and metadata["zero_priced_charges"].value == 1
    assert metadata["reconciled"].value is True and metadata["dagster/row_count"].value == 2
    assert metadata["reconciliation"].value.startswith("imported $12.25 (3 rows) = approved $10.00 + pending $0.00")
    assert "| aws | rejected | 1 | $2.25 | $2.25 |" in metadata["by_source_and_reason"].value
    assert not [k for k, v in metadata.items() if isinstance(v, dg.FloatMetadataValue)]
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
    assert [(r["reason"], r["service"], r["note"]) for r in rows] == [
        ("rejected", "'" + HOSTILE, "'=not ours"), ("zero_priced", "Compute Engine", "billed 0 for list 8")]
    with wh.connect(settings.warehouse_path) as con:  # the file is the report `ocb unbilled` prints
        assert path.read_bytes() == build_report(con, MONTH).csv_text().encode("utf-8")


def test_a_second_run_with_the_same_report_writes_nothing_new(settings, monkeypatch):
    monkeypatch.setenv("OCB_ACTOR", "tester")
    _closed_month(settings)
    defs = build_definitions(settings.config_path)
    job = dg.define_asset_job("unbilled_only", selection=dg.AssetSelection.assets("unbilled_report"))
    defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    statuses = []
    with dg.instance_for_test() as instance:
        for _ in range(2):
            result = defs.resolve_job_def("unbilled_only").execute_in_process(
                partition_key=MONTH, instance=instance, tags=WAREHOUSE_RUN_TAGS)
            statuses.append(result.asset_materializations_for_node("unbilled_report")[0].metadata["status"].value)
    assert statuses == ["written", "unchanged"]
    assert [p.name for p in settings.output.journal_dir.iterdir()] == [f"unbilled_{MONTH}.csv"]
