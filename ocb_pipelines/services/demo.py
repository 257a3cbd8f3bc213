"""The demo's review step: the sample decisions on an open month, its approved charges rebuilt, the month closed.

`ocb demo` shows a whole month end on the committed samples; the reviewer's part is played by
review.sample_decisions, recorded through the same decision rules as `ocb review`, then `review_job` runs as a
tagged Dagster run and the month closes through the period guard (which reconciles in its transaction).
"""

from __future__ import annotations

from dataclasses import dataclass

from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.sample_decisions import demo_decisions
from ocb_pipelines.services.context import AppContext


class DemoStepError(RuntimeError):
    """A step of the demo's month end failed; the message says which and why."""


@dataclass(frozen=True)
class DemoReview:
    period: str
    decisions: int
    status: str

    def as_dict(self) -> dict[str, object]:
        return {"period": self.period, "decisions": self.decisions, "status": self.status}


def review_and_close_sample_month(ctx: AppContext, month: str) -> DemoReview:
    """Decide an open month's queue with the sample decisions, rebuild its approved charges, close it.

    A month already closed or finalized is left as it is, so running the demo again changes nothing."""
    settings = ctx.settings
    decided = 0
    with ctx.connection() as con:
        status = lc.get_period(con, month).status
        if status == "open":
            decisions = demo_decisions(rd.charge_states(con, month), settings.review.fund_org_patterns)
            if decisions:
                rd.record_decisions(con, month, decisions, actor=ctx.actor, via="cli",
                                    fund_org_patterns=settings.review.fund_org_patterns)
            decided = len(decisions)
    if decided or status == "open":
        run = ctx.job("review_job", month)
        if not run.success:
            raise DemoStepError(f"{month}: rebuilding approved charges failed: {run.error}")
    with ctx.connection() as con:
        if lc.get_period(con, month).status == "open":
            lc.close_period(con, month, ctx.actor, notes="closed by ocb demo",
                            currency_symbol=settings.currency.symbol)
        return DemoReview(month, decided, lc.get_period(con, month).status)
