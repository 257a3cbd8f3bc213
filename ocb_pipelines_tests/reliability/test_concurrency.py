"""`ocb ingest` and a sensor-triggered run at the same moment: no corruption, no deadlock, same end state."""

import pytest

from ocb_pipelines_tests.reliability.concurrency import run_concurrency


def test_cli_and_sensor_run_at_once_end_as_a_sequential_run(tmp_path):
    figures = run_concurrency(tmp_path, rounds=1, rows=1000)
    [result] = figures["results"]
    assert result["cli_rc"] == 0, result["cli_error"]
    assert result["sensor_ok"] and result["runs_failed"] == 0
    assert figures["both_finished"] == 1 and figures["state_equal"] == 1
    assert figures["rows"] == 2000 and figures["rows_lost"] == figures["rows_doubled"] == 0
    assert result["overlap_seconds"] > 0  # they really ran at the same time


@pytest.mark.long
def test_repeated_races(tmp_path):
    figures = run_concurrency(tmp_path, rounds=3, rows=3000)
    assert figures["both_finished"] == figures["state_equal"] == 3
    assert figures["rows_lost"] == figures["rows_doubled"] == 0
