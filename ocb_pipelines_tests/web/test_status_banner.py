"""The running-now banner: what holds the warehouse, with a link to its run, and a reload when it has ended."""

from __future__ import annotations

import uuid

import dagster as dg

from ocb_pipelines_tests.web.conftest import MONTH


def test_the_banner_links_each_unfinished_run_and_asks_for_a_reload_when_they_end(desk):
    client = desk.client("vic")
    assert 'hx-get="/status"' in client.get("/").text  # every page loads the banner
    assert "Running now" not in client.get("/status").text
    with dg.DagsterInstance.get() as instance:
        run = instance.add_run(dg.DagsterRun(
            job_name="ingest_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": MONTH, "ocb/actor": "ada"}))
        banner = client.get("/status")
        assert "Running now" in banner.text and f"/runs/{run.run_id}" in banner.text
        assert "ingest_job 2025-01" in banner.text and "(ada)" in banner.text
        assert 'hx-get="/status?was_running=1"' in banner.text
        instance.report_run_canceled(run)
    ended = client.get("/status?was_running=1")
    assert ended.headers["hx-refresh"] == "true"
