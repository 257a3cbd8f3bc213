"""services/periods.py: period changes as commands, each by the context's actor; a close rebuilds the month's
approved charges as a Dagster run tagged with that actor before it checks the reconciliation."""

from __future__ import annotations

import dagster as dg
import pytest

from ocb_pipelines.app import app_context
from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.services import periods as svc
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.periods.conftest import MONTH, load_rows


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from ocb_pipelines_tests.ledger.conftest import write_config

    (tmp_path / "dagster_home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return write_config(tmp_path)


def _runs(job_name: str) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(job_name=job_name)))


def _audit(settings, action: str) -> list[tuple]:
    with wh.connect(settings.warehouse_path) as con:
        return con.execute("SELECT actor FROM audit_events WHERE action = ? ORDER BY event_id", [action]).fetchall()


def test_close_rebuilds_approved_charges_as_a_run_of_the_actor_and_reports_the_reconciliation(settings):
    load_rows(settings, [charge_row(resource="a"), charge_row(resource="b", billed="3.30")])
    ctx = app_context(settings, actor="ann")
    closed = svc.close_period(ctx, MONTH, notes="all reviewed")
    assert closed.period.status == "closed" and closed.period.closed_by == "ann"
    figures = closed.reconciliation
    assert figures.balanced and figures.approved_billed == figures.imported_billed
    assert closed.as_dict()["reconciliation"]["balanced"] is True
    (run,) = _runs("review_job")
    assert run.tags["ocb/actor"] == "ann" and run.tags["dagster/partition"] == MONTH
    with wh.connect(settings.warehouse_path) as con:
        approved = con.execute("SELECT count(*) FROM charges_approved WHERE billing_month = ?", [MONTH]).fetchall()
    assert approved == [(2,)] and _audit(settings, "period_close") == [("ann",)]


def test_a_close_with_charges_pending_runs_nothing_and_says_what_to_do(settings):
    load_rows(settings, [charge_row(resource="a"), charge_row(resource="b", billed="3.30", project_id=None)])
    with pytest.raises(svc.PeriodTransitionError, match="pending review"):
        svc.close_period(app_context(settings, actor="ann"), MONTH)
    assert _runs("review_job") == [] and _audit(settings, "period_close") == []


def test_reopen_is_recorded_with_the_actor_and_finalize_is_guarded(settings):
    load_rows(settings, [charge_row(resource="a")])
    svc.close_period(app_context(settings, actor="ann"), MONTH)
    bob = app_context(settings, actor="bob")
    with pytest.raises(svc.PeriodTransitionError, match="needs a reason"):
        svc.reopen_period(bob, MONTH, " ")
    reopened = svc.reopen_period(bob, MONTH, "late credit")
    assert (reopened.status, reopened.reopened_by, reopened.reopen_reason) == ("open", "bob", "late credit")
    svc.close_period(bob, MONTH)
    with pytest.raises(svc.PeriodTransitionError, match="generate statements first"):
        svc.finalize_period(bob, MONTH)
    assert [p.period for p in svc.list_periods(bob)] == [MONTH]
    assert _audit(settings, "period_reopen") == [("bob",)] and _audit(settings, "period_finalize") == []


def test_open_and_a_malformed_month(settings):
    ctx = app_context(settings, actor="ann")
    with pytest.raises(svc.PeriodTransitionError, match="not a billing month"):
        svc.close_period(ctx, "2025-13")
    load_rows(settings, [charge_row(resource="a")])
    opened = svc.open_period(ctx, MONTH, notes="a note")
    assert opened.status == "open" and opened.notes.endswith("a note")
