"""review_decisions and charges_approved: the review step of every billing month."""


import dagster as dg
from pydantic import Field

from ocb_pipelines.core.money import exact_text, format_money
from ocb_pipelines.core.review_reasons import reason_label
from ocb_pipelines.defs.charges.assets import charges_validated
from ocb_pipelines.defs.metadata import capped_table, markdown_table, money_metadata
from ocb_pipelines.defs.month_checks import month_check_spec
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.defs.review.automation import REVIEW_FOLLOWS_IMPORTS
from ocb_pipelines.periods.reconcile import reconcile
from ocb_pipelines.review.approve import ApprovalGateError, build_approved
from ocb_pipelines.review.decisions import Decision, DecisionError, month_decisions, record_decisions
from ocb_pipelines.review.sheets import SheetRefused, apply_sheet
from ocb_pipelines.review.state import DECISIONS, STATUSES, charge_states, stale_explanation
from ocb_pipelines.review.summary import DecisionState, ReviewSummary, decision_state, summarize_review
from ocb_pipelines.services.run_tags import run_actor
from ocb_pipelines.warehouse import database as wh

APPROVED_GATE = "charges_approved_gate"
SHOWN = {"queue": 20, "decisions": 20, "stale": 50}  # rows of each list the metadata shows (and says so)


class DecisionItem(dg.Config):
    """One decision: approve, reject or correct (with a new pi_email / project_id / fund_org)."""

    charge_id: str
    decision: str
    note: str
    pi_email: str | None = None
    project_id: str | None = None
    fund_org: str | None = None


class ReviewConfig(dg.Config):
    """Decisions to record in this run, and/or review sheets to apply (the review-sheet sensor fills `sheets`).

    Decisions made here are audited as the run's user: the `dagster/user` a proxy or Dagster+ sets, else
    `dagster-ui` (a sheet names its own reviewer)."""

    decisions: list[DecisionItem] = Field(default_factory=list)
    sheets: list[str] = Field(default_factory=list)


def decision_state_metadata(state: DecisionState, symbol: str, code: str) -> dict[str, dg.MetadataValue]:
    """The month's decision state: effective decisions counted and summed by kind (exact), the stale ones, the
    decided set's fingerprint (also the materialisation's data version)."""
    rows = [{"decision": d, "charges": state.by_decision[d][0], "billed": exact_text(state.by_decision[d][1])}
            for d in DECISIONS]
    rows.append({"decision": "stale (back in the queue)", "charges": state.stale[0],
                 "billed": exact_text(state.stale[1])})
    return {
        "decided_charges": dg.MetadataValue.int(state.decided_charges),
        **money_metadata("decided_billed", state.decided_billed, symbol, code),
        "decisions_by_kind": dg.MetadataValue.json(
            {**{d: state.by_decision[d][0] for d in DECISIONS}, "stale": state.stale[0]}),
        **{k: v for d in DECISIONS for k, v in money_metadata(f"{d}_billed", state.by_decision[d][1], symbol,
                                                               code).items()},
        "decision_state": dg.MetadataValue.md(markdown_table(rows)),
        "decided_set": dg.MetadataValue.text(state.fingerprint),
    }


def review_metadata(summary: ReviewSummary, symbol: str, code: str) -> dict[str, dg.MetadataValue]:
    """Counts and money by status, the queue by reason and by source: shared by both assets."""
    status_rows = [
        {"status": s, "rows": summary.rows(s), "billed": format_money(summary.billed(s), symbol)} for s in STATUSES
    ]
    by_source = [
        {"source": r["source"], **{f"{s} rows": r[f"{s}_rows"] for s in STATUSES},
         **{f"{s} billed": format_money(r[f"{s}_billed"], symbol) for s in ("pending", "rejected")}}
        for r in summary.by_source
    ]  # fmt: skip
    return {
        "pending_rows": dg.MetadataValue.int(summary.rows("pending")),
        **money_metadata("pending_billed", summary.billed("pending"), symbol, code),
        "rejected_rows": dg.MetadataValue.int(summary.rows("rejected")),
        **money_metadata("rejected_billed", summary.billed("rejected"), symbol, code),
        "by_status": dg.MetadataValue.md(markdown_table(status_rows)),
        "pending_by_reason": dg.MetadataValue.md(markdown_table([
            {"reason": r["reason"], "meaning": reason_label(r["reason"]), "rows": r["rows"],
             "billed": format_money(r["billed"], symbol)}
            for r in summary.pending_by_reason
        ])),
        "by_source": dg.MetadataValue.md(markdown_table(by_source)),
        "stale_decisions": dg.MetadataValue.md(capped_table([
            {"charge": s["charge_id"], "billed": format_money(s["billed_cost"], symbol), "why": stale_explanation(s)}
            for s in summary.stale[:SHOWN["stale"]]
        ], len(summary.stale), "stale decisions",
            more=f"all of them: `ocb review list -p {summary.month} --reason stale_decision`")),
    }


@dg.asset(
    partitions_def=billing_month,
    group_name="review",
    kinds={"duckdb"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    deps=[charges_validated],
    automation_condition=REVIEW_FOLLOWS_IMPORTS,
    description=(
        "The month's review decision state: each decided charge's effective decision (approve, reject, correct), "
        "counted and summed (exact) by kind, the stale ones, and the decided set's fingerprint (the data version), "
        "read from the append-only decision log whatever route the decisions came by (ocb review, the desk, a "
        "review sheet, or this asset's run config: Launchpad decisions, or sheets from the sensor, "
        "recorded first). Also reports the month's review queue: what is pending and why, with the money at stake."
    ),
)
def review_decisions(
    context: dg.AssetExecutionContext, config: ReviewConfig, ocb: OcbConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    settings = ocb.settings()
    month = context.partition_key
    patterns = settings.review.fund_org_patterns
    recorded: list[int] = []
    sheets_applied: list[dict] = []
    actor = run_actor(context.run.tags)
    with warehouse.get_connection() as con:
        for sheet in config.sheets:
            try:
                result = apply_sheet(con, sheet, fund_org_patterns=patterns, run_id=context.run.run_id,
                                     fallback_actor=actor)
            except SheetRefused as exc:
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            if result.period != month:
                context.log.warning(f"{result.file_name} is for {result.period}, not {month}")
            context.log.info(f"{result.file_name}: {result.status}: {result.message}")
            recorded += result.decision_ids
            sheets_applied.append({"sheet": result.file_name, "status": result.status, "reviewer": result.reviewer,
                                   "decisions": len(result.decision_ids)})
        if config.decisions:
            items = [Decision(d.charge_id, d.decision.strip().lower(), d.note, d.pi_email, d.project_id, d.fund_org,
                              origin=f"run {context.run.run_id[:8]}") for d in config.decisions]
            try:
                recorded += record_decisions(con, month, items, actor=actor, via="ui",
                                             run_id=context.run.run_id, fund_org_patterns=patterns)
            except (DecisionError, wh.PeriodLockedError) as exc:
                raise dg.Failure(description=str(exc), allow_retries=False) from None
        summary = summarize_review(con, month)
        state = decision_state(con, month)
        log = month_decisions(con, month, latest=SHOWN["decisions"])
        queue = charge_states(con, month, limit=SHOWN["queue"])
    symbol, code = settings.currency.symbol, settings.currency.code
    return dg.MaterializeResult(
        data_version=dg.DataVersion(state.fingerprint),
        metadata={
            "dagster/row_count": dg.MetadataValue.int(state.logged),
            **decision_state_metadata(state, symbol, code),
            "decisions_this_run": dg.MetadataValue.int(len(recorded)),
            "sheets": dg.MetadataValue.md(markdown_table(sheets_applied)),
            "orphaned_decisions": dg.MetadataValue.int(summary.orphaned_decisions),
            **review_metadata(summary, symbol, code),
            "review_queue": dg.MetadataValue.md(capped_table([
                {"charge": q["charge_id"], "source": q["source"], "PI": q["pi_email"], "project": q["project_id"],
                 "fund": q["fund_org"], "billed": format_money(q["billed_cost"], symbol),
                 "reasons": ", ".join(q["queue_reasons"])}
                for q in queue
            ], summary.rows("pending"), "charges pending review, largest first",
                more=f"the whole queue: `ocb review list -p {month}`")),
            "review_queue_shown": dg.MetadataValue.int(len(queue)),
            "latest_decisions": dg.MetadataValue.md(capped_table([
                {"id": d["decision_id"], "charge": d["charge_id"], "decision": d["decision"], "by": d["actor"],
                 "at": f"{d['decided_at']:%Y-%m-%d %H:%M}", "via": d["via"], "note": d["note"]}
                for d in log
            ], state.logged, "decisions of the month, the latest", more=f"all of them: `ocb audit -p {month}`")),
            "dagster/table_name": "review_decisions",
        }
    )


@dg.asset(
    partitions_def=billing_month,
    group_name="review",
    kinds={"duckdb", "pandera"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    deps=[charges_validated, review_decisions],
    automation_condition=REVIEW_FOLLOWS_IMPORTS,
    check_specs=[month_check_spec(
        APPROVED_GATE, asset="charges_approved", blocking=True,
        description="The month's approved charges pass their Pandera schema (no approved charge without a PI, project "
                    "or fund; no charge twice) and validated = approved + pending + rejected exactly, inside the "
                    "write transaction; on failure nothing is changed and the run fails. Blocking.")],
    description=(
        "The charges that may be billed: unflagged rows plus approved and corrected ones (a correction takes "
        "effect; the imported values stay in original_pi_email / original_project_id / original_fund_org), minus "
        "rejected ones. Pending charges are left out and reported. Gated by a Pandera schema and a reconciliation "
        "(validated = approved + pending + rejected) inside the write transaction."
    ),
)
def charges_approved(context: dg.AssetExecutionContext, ocb: OcbConfig, warehouse: Warehouse):
    settings = ocb.settings()
    month = context.partition_key
    with warehouse.get_connection() as con:
        try:
            summary = build_approved(con, month, run_id=context.run.run_id)
        except (ApprovalGateError, wh.PeriodLockedError) as exc:
            yield dg.AssetCheckResult(check_name=APPROVED_GATE, passed=False,
                                      metadata={"error": dg.MetadataValue.md(f"```\n{exc}\n```")})
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        rows, corrected, list_total = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE review_status = 'corrected'), "
            "coalesce(sum(coalesce(list_cost, billed_cost)), 0) FROM charges_approved WHERE billing_month = ?",
            [month],
        ).fetchall()[0]
        figures = reconcile(con, month)  # what a close, the statements and the journal are checked on
    symbol, code = settings.currency.symbol, settings.currency.code
    if summary.rows("pending"):
        context.log.warning(
            f"{summary.rows('pending')} charge(s) ({format_money(summary.billed('pending'), symbol)}) still pending "
            f"review in {month}: not included"
        )
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            **money_metadata("approved_billed", summary.included_billed, symbol, code),
            # The same names as on focus_raw, charges_validated and statements, so the catalog plots line up.
            **money_metadata("billed_total", summary.included_billed, symbol, code),
            **money_metadata("list_total", list_total, symbol, code),
            **money_metadata("discount_total", list_total - summary.included_billed, symbol, code),
            **money_metadata("validated_billed", summary.validated_billed, symbol, code),
            "corrected_rows": dg.MetadataValue.int(corrected),
            **review_metadata(summary, symbol, code),
            **money_metadata("imported_billed", figures.imported_billed, symbol, code),
            "reconciled": dg.MetadataValue.bool(figures.balanced),
            "reconciliation": dg.MetadataValue.text(figures.describe(symbol) + "".join(
                f"; {p}" for p in figures.problems(symbol))),
            "dagster/table_name": "charges_approved",
        }
    )
    # After the materialisation, so the result is recorded against it (the month's new approved charges).
    yield dg.AssetCheckResult(check_name=APPROVED_GATE, passed=True, metadata={
        **money_metadata("validated_billed", summary.validated_billed, symbol, code),
        **money_metadata("approved_billed", summary.included_billed, symbol, code)})
