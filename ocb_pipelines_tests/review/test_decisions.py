"""Decisions at the data layer: each kind, bulk, validation, re-import survival, stale decisions, the gate."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.review import approve
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.review.schemas import approved_schema
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.periods.test_lifecycle import _add_statement as add_statement

from .conftest import MONTH, ids_by_resource, load_month, standard_rows


def _decide(settings, *decisions, actor="alice"):
    with wh.connect(settings.warehouse_path) as con:
        return rd.record_decisions(con, MONTH, list(decisions), actor=actor, via="cli",
                                   fund_org_patterns=settings.review.fund_org_patterns)


def _approved(settings):
    with wh.connect(settings.warehouse_path) as con:
        summary = approve.build_approved(con, MONTH)
        rows = con.execute(
            "SELECT resource_id, review_status, pi_email, project_id, fund_org, original_pi_email, "
            "original_project_id, original_fund_org, billed_cost, reviewed_by, review_note FROM charges_approved "
            "WHERE billing_month = ? ORDER BY resource_id",
            [MONTH],
        ).fetchall()
    return summary, {r[0]: r[1:] for r in rows}


def _events(settings, action=None):
    with wh.connect(settings.warehouse_path) as con:
        sql = "SELECT actor, action, subject FROM audit_events WHERE action LIKE 'review_%'"
        rows = con.execute(sql + (" AND action = ?" if action else ""), [action] if action else []).fetchall()
    return rows


def test_queue_shows_flagged_charges_with_reasons_and_money(settings, month):
    with wh.connect(settings.warehouse_path) as con:
        queue = rd.charge_states(con, MONTH)
        summary = rd.summarize_review(con, MONTH)
    assert {q["resource_id"]: q["queue_reasons"] for q in queue} == {
        "noproj": ["missing_project"], "test": ["pattern_match:^test-"], "nofund": ["missing_fund_org"],
    }  # fmt: skip
    assert summary.rows("pending") == 3 and summary.billed("pending") == Decimal("14.75")
    assert summary.rows("unflagged") == 1 and summary.billed("unflagged") == Decimal("10.00")
    assert {r["reason"] for r in summary.pending_by_reason} == {"missing_project", "pattern_match:^test-",
                                                                "missing_fund_org"}


def test_without_decisions_only_unflagged_rows_are_approved(settings, month):
    summary, rows = _approved(settings)
    assert list(rows) == ["ok"]
    assert rows["ok"][0] == "unflagged"
    assert summary.billed("pending") == Decimal("14.75")


def test_approve_one(settings, month):
    _decide(settings, rd.Decision(month["test"], "approve", "sandbox is billable this month"))
    _summary, rows = _approved(settings)
    assert rows["test"][0] == "approved" and rows["test"][8] == "alice"
    assert rows["test"][9] == "sandbox is billable this month"
    assert _events(settings, "review_approve") == [("alice", "review_approve", month["test"])]


def test_reject_excludes_and_reports(settings, month):
    _decide(settings, rd.Decision(month["noproj"], "reject", "not ours"))
    summary, rows = _approved(settings)
    assert "noproj" not in rows
    assert summary.rows("rejected") == 1 and summary.billed("rejected") == Decimal("5.50")


def test_correct_takes_effect_and_keeps_originals(settings, month):
    _decide(settings, rd.Decision(month["nofund"], "correct", "fund from the grant office", fund_org=" XYZ-654321 "))
    _summary, rows = _approved(settings)
    status, pi, project, fund, opi, oproject, ofund, billed, *_ = rows["nofund"]
    assert (status, pi, project, fund) == ("corrected", "pi.two@example.edu", "proj-a", "XYZ-654321")
    assert (opi, oproject, ofund) == ("pi.two@example.edu", "proj-a", None)
    assert billed == Decimal("7.00")


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (dict(decision="correct", note="x"), "needs a new pi_email"),
        (dict(decision="correct", note="x", pi_email="not-an-email", fund_org="ABC-123456"), "not an email"),
        (dict(decision="correct", note="x", fund_org="nope"), "does not match review.fund_org_patterns"),
        (dict(decision="approve", note="   "), "a note is required"),
        (dict(decision="approve", note="x", project_id="p"), "use correct"),
        (dict(decision="bless", note="x"), "unknown decision"),
    ],
)
def test_invalid_decisions_are_refused(settings, month, decision, expected):
    with pytest.raises(rd.DecisionError, match=expected):
        _decide(settings, rd.Decision(month["nofund"], **decision))
    assert _events(settings) == []


def test_correction_must_leave_the_charge_complete(settings):
    load_month(settings, [charge_row(resource="bare", project_id=None, fund_org=None)])
    ids = ids_by_resource(settings)
    with pytest.raises(rd.DecisionError, match="fund_org is still empty"):
        _decide(settings, rd.Decision(ids["bare"], "correct", "project only", project_id="proj-b"))


def test_a_batch_is_all_or_nothing(settings, month):
    with pytest.raises(rd.DecisionError, match="no such charge"):
        _decide(settings, rd.Decision(month["test"], "approve", "ok"), rd.Decision("0" * 20, "approve", "ok"))
    with wh.connect(settings.warehouse_path) as con:
        assert rd.month_decisions(con, MONTH) == []


def test_bulk_by_filter_logs_one_event_per_charge(settings, month):
    with wh.connect(settings.warehouse_path) as con:
        assert rd.select_charge_ids(con, MONTH, reason="pattern_match") == [month["test"]]
        assert rd.select_charge_ids(con, MONTH, pi="PI.TWO@example.edu") == [month["nofund"]]
        assert rd.select_charge_ids(con, MONTH, source="AWS") == sorted([month["noproj"], month["test"],
                                                                         month["nofund"]])
        chosen = rd.select_charge_ids(con, MONTH, everything=True)
        with pytest.raises(rd.DecisionError, match="say which charges"):
            rd.select_charge_ids(con, MONTH)
        with pytest.raises(rd.DecisionError, match="cannot be approved as is, it has no project_id"):
            rd.record_decisions(con, MONTH, [rd.Decision(c, "approve", "bulk") for c in chosen], actor="bob", via="cli")
        rd.record_decisions(con, MONTH, [
            rd.Decision(month["test"], "approve", "bulk"),
            rd.Decision(month["noproj"], "correct", "bulk", project_id="proj-b"),
            rd.Decision(month["nofund"], "correct", "bulk", fund_org="XYZ-654321"),
        ], actor="bob", via="cli")
    assert len(chosen) == 3
    assert [s for _, _, s in _events(settings, "review_approve")] == [month["test"]]
    assert len(_events(settings, "review_correct")) == 2
    summary, rows = _approved(settings)
    assert summary.rows("pending") == 0 and len(rows) == 4


def test_latest_decision_wins(settings, month):
    _decide(settings, rd.Decision(month["test"], "reject", "no"))
    _decide(settings, rd.Decision(month["test"], "approve", "changed my mind"))
    _summary, rows = _approved(settings)
    assert rows["test"][0] == "approved"
    with wh.connect(settings.warehouse_path) as con:
        assert [d["decision"] for d in rd.month_decisions(con, MONTH)] == ["reject", "approve"]


def test_decisions_survive_a_reimport_of_the_same_data(settings, month):
    _decide(settings, rd.Decision(month["test"], "reject", "not billable"),
            rd.Decision(month["noproj"], "correct", "project from ticket", project_id="proj-q"))
    rows = standard_rows()
    load_month(settings, [*reversed(rows), charge_row(resource="new", billed="1.00")])  # new bytes, same charges
    assert ids_by_resource(settings)["test"] == month["test"]
    summary, approved = _approved(settings)
    assert "test" not in approved and approved["noproj"][0] == "corrected" and approved["noproj"][2] == "proj-q"
    assert summary.stale == [] and summary.rows("rejected") == 1


def test_changed_data_makes_a_decision_stale_and_requeues_the_charge(settings, month):
    _decide(settings, rd.Decision(month["test"], "approve", "fine at 2.25"))
    rows = standard_rows()
    rows[2] = charge_row(resource="test", billed="2250.00", service="test-sandbox")
    load_month(settings, rows)
    assert ids_by_resource(settings)["test"] == month["test"]
    with wh.connect(settings.warehouse_path) as con:
        queue = {q["resource_id"]: q for q in rd.charge_states(con, MONTH)}
    assert queue["test"]["queue_reasons"] == ["pattern_match:^test-", rd.STALE_REASON]
    assert "was made on different data" in rd.stale_explanation(queue["test"])
    summary, approved = _approved(settings)
    assert "test" not in approved and len(summary.stale) == 1
    _decide(settings, rd.Decision(month["test"], "approve", "checked the new amount"))
    summary, approved = _approved(settings)
    assert approved["test"][0] == "approved" and approved["test"][7] == Decimal("2250.00") and summary.stale == []


def test_stale_rejection_of_a_now_clean_charge_is_requeued(settings, month):
    _decide(settings, rd.Decision(month["ok"], "reject", "duplicate"))
    rows = standard_rows()
    rows[0] = charge_row(resource="ok", billed="11.00")
    load_month(settings, rows)
    summary, approved = _approved(settings)
    assert "ok" not in approved and summary.rows("pending") == 4


@pytest.mark.parametrize("status", ["closed", "finalized"])
def test_decisions_refused_when_the_month_is_not_open(settings, month, status):
    with wh.connect(settings.warehouse_path) as con:
        con.execute("UPDATE billing_periods SET status = ? WHERE period = ?", [status, MONTH])
    with pytest.raises(wh.PeriodLockedError, match=f"is {status}"):
        _decide(settings, rd.Decision(month["test"], "approve", "late"))


def test_build_approved_refused_when_finalized_and_allowed_when_closed(settings, month):
    _decide(settings, rd.Decision(month["test"], "approve", "ok"),
            rd.Decision(month["noproj"], "correct", "ok", project_id="proj-b"),
            rd.Decision(month["nofund"], "reject", "ok"))
    with wh.connect(settings.warehouse_path) as con:
        lc.close_period(con, MONTH, "admin")
        approve.build_approved(con, MONTH)
        add_statement(con, MONTH)  # a statement of the month, in the warehouse's statements table
        lc.finalize_period(con, MONTH, "admin")
        with pytest.raises(wh.PeriodLockedError, match="finalized"):
            approve.build_approved(con, MONTH)
        assert con.execute("SELECT count(*) FROM charges_approved").fetchall()[0][0] == 3  # one rejected


def test_gate_failure_keeps_the_previous_state(settings, month, monkeypatch):
    _summary, before = _approved(settings)
    _decide(settings, rd.Decision(month["test"], "approve", "ok"))
    monkeypatch.setattr(approve, "gate_approved", lambda con, m, s: ["boom"])
    with pytest.raises(approve.ApprovalGateError, match="boom"), wh.connect(settings.warehouse_path) as con:
        approve.build_approved(con, MONTH)
    monkeypatch.undo()
    with wh.connect(settings.warehouse_path) as con:
        now = con.execute("SELECT resource_id FROM charges_approved").fetchall()
    assert [r[0] for r in now] == list(before)


def test_schema_refuses_pending_rejected_incomplete_and_duplicate_rows():
    frame = pd.DataFrame({
        "charge_id": ["a" * 20, "a" * 20, "b" * 20, "c" * 20],
        "billing_month": [MONTH] * 4,
        "review_status": ["approved", "pending", "rejected", "corrected"],
        "needs_review": [True, True, True, True],
        "billed_cost": [Decimal(1), None, Decimal(1), Decimal(1)],
        "effective_cost": [Decimal(1)] * 4,
        "billing_currency": ["USD"] * 4,
        "pi_email": ["x@example.edu", None, None, None],
        "project_id": ["p"] * 4,
        "fund_org": ["ABC-123456"] * 4,
    })  # fmt: skip
    import pandera.pandas as pa

    with pytest.raises(pa.errors.SchemaErrors) as info:
        approved_schema(MONTH).validate(frame, lazy=True)
    failed = set(info.value.failure_cases["check"].astype(str))
    assert {"field_uniqueness", "not_nullable"} <= failed
    assert any("corrected charge needs" in c for c in failed)
    assert any("must not be billed" in c for c in failed)


def test_charges_of_a_replaced_import_wait_for_validation(settings, month):
    """A corrected file replaces the raw rows a month was validated from: until the month is validated again,
    a decision on its charges and the approved charges are refused with the reason (never billed half-known)."""
    rows = standard_rows()
    rows[0] = charge_row(resource="ok", billed="12.00")
    path = write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[MONTH], source="aws")  # imported, not validated yet
    with pytest.raises(rd.DecisionError, match="replaced since the month was validated"):
        _decide(settings, rd.Decision(month["test"], "approve", "fine"))
    with pytest.raises(approve.ApprovalGateError, match="validate 2025-01 again"):
        _approved(settings)
    load_month(settings, rows)
    _decide(settings, rd.Decision(month["test"], "approve", "fine"))
    _summary, approved = _approved(settings)
    assert approved["ok"][7] == Decimal("12.00") and approved["test"][0] == "approved"
