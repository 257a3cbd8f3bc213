"""services.statements and services.deliveries against a real Dagster instance (DAGSTER_HOME in tmp_path):
renders and sends are tagged runs of the actor; a dry run materialises nothing and logs nothing."""

from __future__ import annotations

import dagster as dg
import pytest

from ocb_pipelines.app import app_context
from ocb_pipelines.delivery import log
from ocb_pipelines.services.deliveries import list_deliveries, preview_send, send_statements
from ocb_pipelines.services.statements import month_statements, preview_statements, render_statements
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.statements.conftest import MONTH

DELIVERIES = dg.AssetKey("statement_deliveries")


def _log_rows(settings) -> int:
    with wh.connect(settings.warehouse_path) as con:
        log.ensure_tables(con)
        return con.execute("SELECT count(*) FROM delivery_log").fetchall()[0][0]


def test_render_then_dry_run_materialises_nothing_then_send(closed_month):
    ctx = app_context(closed_month, actor="alice")
    rendered = render_statements(ctx, MONTH, workers=1)
    assert rendered.ok and rendered.metadata["rendered"] == 2
    assert [[f["format"] for f in s["files"]] for s in month_statements(ctx, MONTH)] == [["pdf", "csv"]] * 2

    would = preview_send(ctx, MONTH)
    preview = preview_statements(ctx, MONTH)
    assert [e["status"] for e in would] == ["would_send", "would_send"]
    assert [e["status"] for e in preview.emails] == ["would_send", "would_send"] and not preview.note
    with dg.DagsterInstance.get() as instance:
        assert instance.get_latest_materialization_event(DELIVERIES) is None
        assert [r.run_id for r in instance.get_runs()] == [rendered.run.run_id]
        assert instance.get_run_by_id(rendered.run.run_id).tags["ocb/actor"] == "alice"
    assert _log_rows(closed_month) == 0 and list_deliveries(ctx, MONTH) == []
    assert not (closed_month.output.email_dir / MONTH).exists()

    sent = send_statements(ctx, MONTH)
    assert sent.ok and sorted(e["status"] for e in sent.emails) == ["written", "written"]
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(DELIVERIES)
        assert event is not None and instance.get_run_by_id(event.run_id).tags["ocb/actor"] == "alice"
    assert [e["status"] for e in preview_send(ctx, MONTH)] == ["already_sent", "already_sent"]
    assert _log_rows(closed_month) == 2


def test_send_job_has_no_dry_run_setting(closed_month):
    """It had one, and a dry run recorded a statement_deliveries materialisation of emails never sent."""
    ctx = app_context(closed_month, actor="alice")
    assert render_statements(ctx, MONTH, workers=1).ok
    with pytest.raises(dg.DagsterInvalidConfigError):
        ctx.job("send_job", MONTH, {"ops": {"statement_deliveries": {"config": {"dry_run": True}}}})
    with dg.DagsterInstance.get() as instance:
        assert instance.get_latest_materialization_event(DELIVERIES) is None
    assert _log_rows(closed_month) == 0


def test_resend_is_a_run_of_the_actor_and_reports_only_that_pi(closed_month):
    ctx = app_context(closed_month, actor="bob")
    assert render_statements(ctx, MONTH, workers=1, send=True).ok
    again = send_statements(ctx, MONTH, resend=["pi.two@example.edu"], reason="lost it")
    assert again.ok and [e["recipient"] for e in again.emails] == ["pi.two@example.edu"]
    assert [s["pi_email"] for s in again.states] == ["pi.two@example.edu"]
    resent = [d for d in list_deliveries(ctx, MONTH) if d["resend"]]
    assert len(resent) == 1 and resent[0]["recipient"] == "pi.two@example.edu"
