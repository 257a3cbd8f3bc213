"""Review as a service on a real warehouse file and a real Dagster instance: the queue's filters and paging,
decisions with their rebuild as a run tagged with the actor, and the month's decision state that
`review_decisions` materialises whatever route the decisions came by."""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import pytest

from ocb_pipelines.app import app_context
from ocb_pipelines.core.review_reasons import reasons
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.services import review as svc
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.review.conftest import MONTH, ids_by_resource, load_month, standard_rows


@pytest.fixture
def month(settings, workdir, monkeypatch) -> dict[str, str]:
    """ok 10.00 (clean), noproj 5.50, test 2.25 (test-sandbox), nofund 7.00 (pi.two); {resource: charge_id}."""
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dagster_home"))
    load_month(settings, standard_rows())
    return ids_by_resource(settings)


def _ids(queue: svc.ReviewQueue, month: dict[str, str]) -> list[str]:
    names = {v: k for k, v in month.items()}
    return [names[c["charge_id"]] for c in queue.charges]


def test_queue_filters_and_pages_with_the_total_of_every_page(settings, month):
    ctx = app_context(settings, actor="desk.user")
    queue = svc.review_queue(ctx, MONTH)
    assert _ids(queue, month) == ["nofund", "noproj", "test"]  # largest first
    assert (queue.total, queue.billed_total, queue.summary.rows("unflagged")) == (3, Decimal("14.75"), 1)
    page = svc.review_queue(ctx, MONTH, limit=1, offset=1)
    assert _ids(page, month) == ["noproj"] and (page.total, page.billed_total) == (3, Decimal("14.75"))
    assert svc.review_queue(ctx, MONTH, limit=2, offset=2).charges[0]["charge_id"] == month["test"]
    cases = {
        "reason": ({"reason": "missing_project"}, ["noproj"]),
        "reason prefix": ({"reason": "pattern_match"}, ["test"]),
        "source": ({"source": "AWS"}, ["nofund", "noproj", "test"]),
        "pi": ({"pi": " PI.TWO@example.edu"}, ["nofund"]),
        "project": ({"project": "PROJ-A"}, ["nofund", "test"]),
        "text": ({"text": "Sandbox"}, ["test"]),
        "status": ({"status": "unflagged"}, ["ok"]),
        "all": ({"status": "all", "limit": 2}, ["ok", "nofund"]),
    }
    for name, (filters, expected) in cases.items():
        assert _ids(svc.review_queue(ctx, MONTH, **filters), month) == expected, name
    empty = svc.review_queue(ctx, MONTH, text="no such charge")
    assert (empty.total, empty.billed_total, empty.charges) == (0, Decimal(0), [])
    assert svc.review_queue(ctx, MONTH, status="all").total == 4
    with pytest.raises(ValueError, match="unknown review status"):
        svc.review_queue(ctx, MONTH, status="maybe")


def test_reasons_come_from_the_registry():
    listed = svc.list_review_reasons()
    assert [r["code"] for r in listed] == [r.code for r in reasons()]
    assert {r["level"] for r in listed} == {"tag", "line", "decision"} and all(r["label"] and r["help"] for r in listed)


def test_decisions_rebuild_as_a_run_tagged_with_the_actor(settings, month):
    ctx = app_context(settings, actor="desk.user", trigger="desk")
    decided = svc.decide_charges(ctx, MONTH, "approve", "looked at it", ids=[month["test"]])
    assert decided.ok and decided.recorded == [month["test"]] and decided.billed_total == Decimal("2.25")
    assert decided.rebuild is not None and decided.rebuild.success
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(decided.rebuild.run_id)
    assert run.job_name == "review_job" and run.tags["ocb/actor"] == "desk.user" and run.tags["ocb/trigger"] == "desk"
    state = decided.rebuild.metadata["review_decisions"]
    assert state["decided_charges"] == 1 and state["decisions_by_kind"]["approve"] == 1
    assert decided.rebuild.metadata["charges_approved"]["dagster/row_count"] == 2
    # a bulk approval of what is left: neither can be approved as is, both stay pending, counted by cause
    bulk = svc.decide_charges(ctx, MONTH, "approve", "month checked", everything=True)
    assert not bulk.decided and not bulk.ok and bulk.rebuild is None
    assert bulk.held_billed == Decimal("12.50")
    assert [h["cause"] for h in bulk.held_by_cause()] == ["1 has no fund_org", "1 has no project_id"]
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT actor, via FROM review_decisions").fetchall() == [("desk.user", "desk")]
    with pytest.raises(svc.Refused):
        svc.decide_charges(ctx, MONTH, "approve", "x", ids=[month["nofund"]], rebuild=False)


def _state(outcome) -> dict:
    return outcome.metadata["review_decisions"]


def test_review_decisions_materialises_the_decision_state_whatever_the_route(settings, month):
    ctx = app_context(settings, actor="admin.one")
    # decisions recorded outside any run (as `ocb review ... --no-rebuild` or a script does)
    with wh.connect(settings.warehouse_path) as con:
        rd.record_decisions(con, MONTH, [
            rd.Decision(month["test"], "reject", "not ours"),
            rd.Decision(month["noproj"], "correct", "from ticket", project_id="proj-z"),
            rd.Decision(month["nofund"], "reject", "no fund"),
        ], actor="admin.one", via="cli")
    first = svc.rebuild_approved(ctx, MONTH)
    state = _state(first)
    assert first.success and state["decisions_this_run"] == 0 and state["dagster/row_count"] == 3
    assert state["decisions_by_kind"] == {"approve": 0, "reject": 2, "correct": 1, "stale": 0}
    assert state["decided_charges"] == 3 and state["decided_billed"] == "$14.75 USD"
    assert (state["reject_billed_cents"], state["correct_billed_cents"], state["approve_billed_cents"]) == (925, 550, 0)
    assert "9.250000000000" in state["decision_state"]  # exact, not rounded
    # the same state materialises the same data version; a changed decision, another one
    again = svc.rebuild_approved(ctx, MONTH)
    assert _state(again)["decided_set"] == state["decided_set"]
    svc.decide_charges(ctx, MONTH, "correct", "fund found", ids=[month["nofund"]],
                       corrections={"fund_org": "ABC-123456"}, rebuild=False)
    changed = _state(svc.rebuild_approved(ctx, MONTH))
    assert changed["decided_set"] != state["decided_set"] and changed["dagster/row_count"] == 4
    assert changed["decisions_by_kind"] == {"approve": 0, "reject": 1, "correct": 2, "stale": 0}
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("review_decisions"))
    assert event.asset_materialization.tags["dagster/data_version"] == changed["decided_set"]
