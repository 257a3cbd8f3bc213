"""services/journal.py: the GL journal is a tagged run of the gl_journal asset whose result is the run's
metadata; every other layout is an export that leaves the asset's latest materialisation the GL journal."""

from __future__ import annotations

import dagster as dg
import pytest

from ocb_pipelines.app import app_context
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.services import journal as svc
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.ledger.conftest import MONTH, load_month, tagged, write_config

GL_JOURNAL = dg.AssetKey("gl_journal")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.chdir(tmp_path)
    return write_config(tmp_path)


def _month(settings, close: bool = True) -> None:
    load_month(settings, {"aws": [tagged(billed="10.004", resource="a"),
                                  tagged(billed="5.003", resource="b", pi_email="pi.two@example.edu")]}, close=close)


def _latest_gl_journal() -> dg.EventLogEntry:
    with dg.DagsterInstance.get() as instance:
        return instance.get_latest_materialization_event(GL_JOURNAL)


def test_gl_export_is_a_run_of_the_actor_and_its_result_is_the_runs_metadata(settings):
    _month(settings)
    export = svc.export_journal_file(app_context(settings, actor="ann"), MONTH)
    assert (export.format, export.status, export.lines, export.charges) == ("gl", "written", 2, 2)
    assert str(export.debit_total) == str(export.credit_total) == str(export.approved_total) == "15.01"
    with wh.connect(settings.warehouse_path) as con:
        row = con.execute("SELECT export_id, file_path, file_sha256, run_id, exported_by FROM journal_exports"
                          ).fetchall()
    assert row == [(export.export_id, export.file, export.sha256, export.run_id, "ann")]
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(export.run_id).tags["ocb/actor"] == "ann"


def test_another_layout_is_an_export_and_the_latest_gl_journal_stays_the_gl_journal(settings):
    _month(settings)
    ctx = app_context(settings, actor="ann")
    gl = svc.export_journal_file(ctx, MONTH)
    for fmt in ("summary", "standard", "openchargeback"):
        listing = svc.export_journal_file(ctx, MONTH, fmt)
        assert (listing.format, listing.status, listing.run_id) == (fmt, "written", None)
        assert listing.file.endswith(f"journal_{fmt}_{MONTH}.csv") and listing.debit_total is None
    latest = _latest_gl_journal()
    assert latest.run_id == gl.run_id
    meta = latest.asset_materialization.metadata
    assert meta["path"].value == gl.file and meta["export"].value["format"] == "gl"
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs(filters=dg.RunsFilter(job_name="journal_job"))) == 1
    with wh.connect(settings.warehouse_path) as con:
        audited = con.execute("SELECT actor, details ->> 'format' FROM audit_events WHERE action = 'journal_export' "
                              "ORDER BY event_id").fetchall()
    assert audited == [("ann", "gl"), ("ann", "summary"), ("ann", "standard"), ("ann", "openchargeback")]


def test_the_gl_journal_asset_takes_no_layout(settings):
    _month(settings)
    job = build_definitions(settings.config_path).resolve_job_def("journal_job")
    with dg.instance_for_test() as instance, pytest.raises(dg.DagsterInvalidConfigError, match="format"):
        job.execute_in_process(partition_key=MONTH, instance=instance,
                               run_config={"ops": {"gl_journal": {"config": {"format": "summary"}}}})


@pytest.mark.parametrize("fmt", ["gl", "summary"])
def test_refusals_list_every_culprit_and_write_nothing(settings, fmt):
    _month(settings, close=False)
    with pytest.raises(svc.JournalExportRefused) as refused:
        svc.export_journal_file(app_context(settings, actor="ann"), MONTH, fmt)
    assert "no file was written" in str(refused.value) and "ocb periods close 2025-01" in refused.value.problems[0]
    assert not settings.output.journal_dir.exists()
