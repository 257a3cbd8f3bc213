"""The unbilled report of a month (ledger/unbilled.py), one call for the CLI, the desk and whatever comes next.

Reading it changes nothing. Writing its CSV into the journal folder (output.journal_dir) is what the
`unbilled_report` asset does at month end; `ocb unbilled --csv` writes the same file by the same rule (never
overwritten, unchanged when identical to the latest), as a listing export of the journal service does: it changes
no asset's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ocb_pipelines.ledger.targets import output_target
from ocb_pipelines.ledger.unbilled import UnbilledError, UnbilledReport, build_report, write_report_csv
from ocb_pipelines.services.context import AppContext

UnbilledRefused = UnbilledError  # for callers above services, which never import a domain


@dataclass(frozen=True)
class UnbilledCsv:
    """The report's CSV as written (or found unchanged) in the journal folder."""

    path: Path
    status: str  # written | unchanged
    sha256: str


def unbilled_report(ctx: AppContext, month: str) -> UnbilledReport:
    """The month's unbilled charges by source and reason, with the totals they reconcile with."""
    with ctx.connection() as con:
        return build_report(con, month)


def journal_folder(ctx: AppContext) -> Path:
    """output.journal_dir as an absolute folder (where `ocb export-journal` writes by default)."""
    return output_target(None, ctx.settings.output.journal_dir)[0]


def write_unbilled_csv(ctx: AppContext, month: str) -> tuple[UnbilledReport, UnbilledCsv]:
    """The report, and its CSV written into the journal folder."""
    report = unbilled_report(ctx, month)
    path, status, sha = write_report_csv(report, journal_folder(ctx))
    return report, UnbilledCsv(path, status, sha)
