"""Many files land in the inbox at once: the sensor's runs import every row exactly once."""

from decimal import Decimal

import pytest

from ocb_pipelines_tests.reliability.load import plan_files, run_load


def _assert_exactly_once(figures: dict, files: int) -> None:
    assert figures["files"] == files
    assert figures["runs_failed"] == 0 and figures["runs"] == figures["runs_in_instance"] > 0
    assert figures["rows_imported"] == figures["rows_validated"] == figures["rows_expected"] > 0
    assert figures["money_imported"] == figures["money_validated"] == figures["money_expected"] > Decimal(0)
    assert figures["by_month_source_equal"]
    assert figures["rows_lost"] == figures["rows_doubled"] == figures["lineage_duplicates"] == 0
    assert figures["money_lost"] == figures["money_doubled"] == Decimal(0)
    assert figures["duplicates_doubled"] == 0
    assert figures["runs_after_quiet_tick"] == 0 and figures["runs_relaunched"] == 0


def test_plan_has_multi_month_files_and_copies():
    specs = plan_files(200, 12, 5)
    assert len(specs) == 200 and len({s.name for s in specs}) == 200
    assert {m for s in specs for m in s.months} == {f"2025-{m:02d}" for m in range(1, 13)}
    assert len({s.source for s in specs}) == 5 and {s.fmt for s in specs} == {"csv", "csv.gz", "parquet"}
    assert sum(len(s.months) > 1 for s in specs) >= 20 and sum(bool(s.copy_of) for s in specs) == 8


def test_inbox_load_small(tmp_path):
    """The CI-sized load: 20 files, 3 months, 5 sources, two waves."""
    figures = run_load(tmp_path, files=20, months=3, sources=5)
    _assert_exactly_once(figures, 20)
    assert figures["files_duplicate"] >= 1 and figures["files_multi_month"] >= 1


@pytest.mark.long
def test_inbox_load_200_files(tmp_path):
    """The full load: 200 files across 12 months and 5 sources (`python -m pytest -m long`)."""
    figures = run_load(tmp_path, files=200, months=12, sources=5)
    _assert_exactly_once(figures, 200)
    assert figures["runs_requested_per_wave"][0] == 12
