"""The `pi_history` asset: each PI and project's months side by side, stored per billing month, plotted per month.

What the Dagster UI's Plots tab draws for a partitioned asset (dagster-ui AssetPlots/useRecentAssetEvents): x = the
last 120 keys of the asset definition's partitions, y = each numeric metadata value of that partition's latest
materialisation (a month never materialised is a hole). The test reads both back the same way: the definition's
partition keys (rebound by build_definitions to the warehouse's calendar) and the materialisations per month from
the DagsterInstance.
"""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import pytest

from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.ingest.billing_months import calendar_end
from ocb_pipelines.statements import pi_history_table
from ocb_pipelines.statements.pi_history import History, HistoryMonth
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.statements.conftest import make_settings
from ocb_pipelines_tests.statements.late_months import build_three_months

MONTHS = ("2025-01", "2025-02", "2025-03")
TAGS = {"ocb/trigger": "cli", "ocb/actor": "tester"}


@pytest.fixture
def three_months(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, monkeypatch)
    build_three_months(settings)
    (tmp_path / "dagster_home").mkdir()
    return settings


def _plot_points(instance: dg.DagsterInstance, defs: dg.Definitions, label: str) -> dict[str, int | None]:
    """The points of one plot as the UI draws it: every partition key of the definition, the latest value or None."""
    keys = defs.get_assets_def("pi_history").partitions_def.get_partition_keys()[-120:]
    records = instance.fetch_materializations(dg.AssetKey("pi_history"), limit=1000).records
    latest: dict[str, dg.MetadataValue] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        latest[record.partition_key] = record.asset_materialization.metadata[label]
    return {key: (latest[key].value if key in latest else None) for key in keys}


def test_statements_job_stores_the_history_and_the_plots_axis_is_the_warehouses_months(three_months):
    defs = build_definitions(three_months.config_path)
    with dg.instance_for_test(temp_dir=str(three_months.config_path.parent / "dagster_home")) as instance:
        for month in MONTHS:
            result = defs.resolve_job_def("statements_job").execute_in_process(partition_key=month,
                                                                               instance=instance, tags=TAGS)
            assert result.success
            done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
            assert done == {"pi_history", "statements"}  # both, in one run
        billed = _plot_points(instance, defs, "billed_total_cents")
        gaps = _plot_points(instance, defs, "gaps")
        event = instance.get_latest_materialization_event(dg.AssetKey("pi_history"))
    # The axis: the warehouse's months, from its first (2025-01) to the running one, not 2020-01 onwards.
    assert list(billed)[:3] == list(MONTHS) and list(billed)[-1] == calendar_end()
    assert {k: v for k, v in billed.items() if v is not None} == {"2025-01": 10000, "2025-02": 9000,
                                                                  "2025-03": 9050}
    assert gaps["2025-02"] == 1 and gaps["2025-03"] == 0  # pi.two had no charges in February
    metadata = event.asset_materialization.metadata
    assert event.asset_materialization.partition == "2025-03"
    assert isinstance(metadata["billed_total_cents"], dg.IntMetadataValue)
    assert metadata["list_total_cents"].value == 16050 and metadata["subsidy_total_cents"].value == 7000
    assert metadata["subsidy_total"].value == "$70.00 USD" and metadata["pis"].value == 2
    assert metadata["months"].value == 3 and metadata["window"].value == "2025-01 .. 2025-03"
    assert metadata["dagster/row_count"].value == 6
    history = metadata["history"].value
    assert "| 2025-02 | $90.00 | $100.00 | $10.00 | 1 | 1 | 1 |" in history
    assert "| pi.two@example.edu | proj-b | $0.00 | gap | $10.00 |" in metadata["pi_projects"].value
    assert not [k for k, v in metadata.items() if isinstance(v, dg.FloatMetadataValue)]  # money never a float


def test_a_slice_is_replaced_and_holds_exact_money_and_gaps(three_months):
    defs = build_definitions(three_months.config_path)
    with dg.instance_for_test(temp_dir=str(three_months.config_path.parent / "dagster_home")) as instance:
        job = defs.resolve_job_def("statements_job")
        for _ in range(2):  # twice: the month's slice is replaced, not added to
            assert job.execute_in_process(partition_key="2025-03", instance=instance, tags=TAGS).success
    with wh.connect(three_months.warehouse_path) as con:
        rows = con.execute("SELECT month, pi_email, project_id, billed_total, list_total, subsidy_total, line_count, "
                           "gap FROM pi_history WHERE billing_month = '2025-03' ORDER BY 2, 1").fetchall()
        other = con.execute("SELECT count(*) FROM pi_history WHERE billing_month <> '2025-03'").fetchall()[0][0]
    assert other == 0
    assert rows == [
        ("2025-01", "pi.one@example.edu", "proj-a", Decimal("100"), Decimal("120"), Decimal("20"), 2, False),
        ("2025-02", "pi.one@example.edu", "proj-a", Decimal("90"), Decimal("100"), Decimal("10"), 1, False),
        ("2025-03", "pi.one@example.edu", "proj-a", Decimal("80.5"), Decimal("110.5"), Decimal("30"), 4, False),
        ("2025-01", "pi.two@example.edu", "proj-b", Decimal("0"), Decimal("800"), Decimal("800"), 1, False),
        ("2025-02", "pi.two@example.edu", "proj-b", Decimal("0"), Decimal("0"), Decimal("0"), 0, True),
        ("2025-03", "pi.two@example.edu", "proj-b", Decimal("10"), Decimal("50"), Decimal("40"), 1, False),
    ]


def _bad_history(month: str) -> History:
    return History(month, "2024-04", ("2025-01",), (
        HistoryMonth("2025-01", "pi.one@example.edu", "proj-a", Decimal("99"), Decimal("120"), 2, False),
        HistoryMonth("2025-01", "pi.two@example.edu", "proj-b", Decimal("5"), Decimal("5"), 0, True),
    ))


def test_the_gate_refuses_a_bad_slice_names_the_row_and_writes_nothing(three_months, monkeypatch):
    with wh.connect(three_months.warehouse_path) as con:
        problems = pi_history_table.gate_history(con, _bad_history("2025-01"))
    assert problems == ["2025-01, PI 'pi.two@example.edu', project 'proj-b': failed: a gap has no charges",
                        "2025-01: history billed 99 != approved charges 100.000000000000"]

    monkeypatch.setattr(pi_history_table, "load_history", lambda con, month, months: _bad_history(month))
    defs = build_definitions(three_months.config_path)
    with dg.instance_for_test(temp_dir=str(three_months.config_path.parent / "dagster_home")) as instance:
        result = defs.resolve_job_def("statements_job").execute_in_process(
            partition_key="2025-01", instance=instance, tags=TAGS, raise_on_error=False)
        assert not result.success
        checks = [e.event_specific_data for e in result.all_events
                  if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert ("pi_history_gate", False) in [(c.check_name, c.passed) for c in checks]
    with wh.connect(three_months.warehouse_path) as con:
        assert con.execute("SELECT count(*) FROM pi_history").fetchall()[0][0] == 0  # nothing of the bad slice
    # Statements do not read the table (each works out its own 6 months, under its own gate): not blocked by it.
