"""The application layer's imports and queries on a real warehouse file: files imported through the service
(tagged Dagster runs), then the month summary, charge detail with lineage, PI view and audit log read back."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from ocb_pipelines.app import app_context
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.services.audit_log import audit_events
from ocb_pipelines.services.charge_detail import ChargeNotFoundError, charge_detail
from ocb_pipelines.services.imports import import_files, plan_import
from ocb_pipelines.services.month_summary import month_summaries, month_summary
from ocb_pipelines.services.pi_view import pi_view
from ocb_pipelines_tests.conftest import GOOD_TAGS, focus_row, write_focus

MONTH = "2025-01"
PI = GOOD_TAGS["pi_email"]


@pytest.fixture
def imported(workdir: Path, settings, monkeypatch):
    """January (aws: 4 rows, one flagged test box, one for another project) and February (lab: 1 row), imported
    by the service as actor `desk-user`; the test box rejected."""
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dh"))
    aws = write_focus(workdir / "aws_2025-01.csv", [
        focus_row(billed="10.01"), focus_row(billed="2.50", ResourceId="i-2"),
        focus_row(billed="4.00", ResourceName="test-x", ResourceId="i-3"),
        focus_row(billed="1.10", tags={**GOOD_TAGS, "project_id": "other"}, ResourceId="i-4")])
    lab = write_focus(workdir / "lab_2025-02.csv", [focus_row("2025-02", billed="3.33")])
    ctx = app_context(settings, actor="desk-user")
    summary = import_files(ctx, plan_import(ctx, [aws, lab], source="aws"))
    assert summary["ok"], summary
    with ctx.connection() as con:
        (test_box,) = rd.select_charge_ids(con, MONTH, reason="pattern_match")
        rd.record_decisions(con, MONTH, [rd.Decision(test_box, "reject", "test box")], actor="desk-user", via="desk")
    return ctx, aws, test_box


def test_import_runs_are_tagged_with_the_actor(imported, workdir):
    with dg.DagsterInstance.from_config(str(workdir / "dh")) as instance:
        runs = instance.get_runs()
    assert {r.tags["dagster/partition"] for r in runs} == {MONTH, "2025-02"}
    assert {r.tags["ocb/actor"] for r in runs} == {"desk-user"}


def test_month_summary_is_the_reconciliation_exact_to_the_cent(imported):
    ctx, _, _ = imported
    jan = month_summary(ctx, MONTH)
    assert (jan.status, jan.files, jan.sources) == ("open", 1, ["aws"])
    assert jan.figures.imported_billed == Decimal("17.61")
    figures = jan.figures
    assert (figures.approved_billed, figures.pending_billed, figures.rejected_billed) == (Decimal("13.61"), 0,
                                                                                          Decimal("4.00"))
    data = jan.as_dict()
    assert data["imported"]["rows"] == 4 and data["rejected"]["rows"] == 1 and data["reconciled"]
    assert [m.period for m in month_summaries(ctx)] == ["2025-02", MONTH]  # newest first
    assert month_summary(ctx, "2024-12").figures.imported_billed == 0  # nothing imported: zeros, not an error


def test_charge_detail_traces_the_charge_to_its_file_row(imported):
    ctx, aws, test_box = imported
    detail = charge_detail(ctx, MONTH, test_box)
    assert detail.lineage["file_name"] == aws.name and detail.lineage["source"] == "aws"
    assert detail.lineage["file_sha256"] == hashlib.sha256(aws.read_bytes()).hexdigest()
    assert detail.lineage["file_row_number"] == 3  # the third data row of the file
    assert detail.raw["ResourceName"] == "test-x" and detail.raw["BilledCost"] is not None
    assert detail.tags == GOOD_TAGS
    assert [r["code"] for r in detail.reasons] == detail.charge["queue_reasons"] and detail.reasons[0]["label"]
    assert detail.charge["review_status"] == "rejected" and detail.charge["billed_cost"] == Decimal("4.00")
    assert [(d["decision"], d["actor"], d["note"]) for d in detail.decisions] == [("reject", "desk-user", "test box")]
    json.dumps(detail.as_dict(), default=str)  # plain data the desk can send
    with pytest.raises(ChargeNotFoundError, match="no such charge in billing month 2025-01"):
        charge_detail(ctx, MONTH, "nope")


def test_pi_view_projects_and_totals(imported):
    ctx, _, _ = imported
    view = pi_view(ctx, MONTH, PI.upper())
    by_project = {p["project"]: p for p in view.projects}
    assert by_project["astro-survey"]["statuses"] == {"unflagged": 2, "rejected": 1}
    assert by_project["other"]["billable"] == Decimal("1.10")
    assert (view.billed_total, view.billable_total, view.charges) == (Decimal("17.61"), Decimal("13.61"), 4)
    assert pi_view(ctx, MONTH, "nobody@example.edu").projects == []


def test_audit_filters_and_pages_newest_first(imported):
    ctx, _, test_box = imported
    everything = audit_events(ctx)
    assert everything.total == len(everything.events) > 1 and not everything.has_older
    ids = [e["event_id"] for e in everything.events]
    assert ids == sorted(ids)  # a page reads oldest first
    newest = audit_events(ctx, limit=1)
    older = audit_events(ctx, limit=1, offset=1)
    assert newest.events[0]["event_id"] == ids[-1] and older.events[0]["event_id"] == ids[-2] and older.has_older
    rejected = audit_events(ctx, period=MONTH, action="review_reject")
    assert [(e["subject"], e["actor"]) for e in rejected.events] == [(test_box, "desk-user")]
    assert audit_events(ctx, actor="someone-else").total == 0
    with pytest.raises(ValueError, match="not below 0"):
        audit_events(ctx, offset=-1)
