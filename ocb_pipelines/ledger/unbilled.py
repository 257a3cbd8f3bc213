"""The unbilled report of a month: every imported charge no PI is billed for, with its money and why (no Dagster).

Finance asks what went unbilled and why (ColdFront #347, #116). Each charge gets one reason, the first that holds:

  rejected     a reviewer rejected it; the note is the reviewer's
  ownerless    no PI or no project, so it reached no PI's project statement: pending review (missing_pi_email and
               missing_project route it there, and it cannot be approved as is), or, in a warehouse whose decisions
               predate that rule, approved as is (statements then put it on a statement of no PI, which no email
               reaches, or on the PI's "(no project)" statement); the note says which, with the review reasons
  pending      still in review for any other reason (flagged, or its decision went stale); the note lists them
  zero_priced  approved and billed 0 while its list price or quantity is above 0 (e.g. a usage line priced at 0)

Each line also carries its review status, so the lines add up to the status totals as well as to the reasons'.

The sources of truth: the review state (review/state.py) for rejected and pending; charges_approved, what the
statements and the journal read, for ownerless and zero-priced; the month's reconciliation (periods/reconcile.py,
the query the close runs) for imported = approved + pending + rejected, which the totals show together with the
approved money that reached a PI's statement and the money that did not. A charges_approved that is not what the
review state makes it (a decision since) is reported as a problem, not silently mixed in.

A charge's list price is its ListCost, or its billed cost where the file gives none (the statements' rule).
The CSV (detailed lines) goes through ledger.csv_safety: a value from a file never runs as a spreadsheet formula.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ocb_pipelines.core.money import format_money
from ocb_pipelines.ledger.csv_safety import unsafe_cells, write_rows
from ocb_pipelines.ledger.targets import sha256_text, write_exact_file
from ocb_pipelines.periods.lifecycle import check_period_key, get_period
from ocb_pipelines.periods.reconcile import Reconciliation, reconcile
from ocb_pipelines.review.state import charge_states

REJECTED, PENDING, OWNERLESS, ZERO_PRICED = "rejected", "pending", "ownerless", "zero_priced"
REASONS = (REJECTED, OWNERLESS, PENDING, ZERO_PRICED)
CSV_COLUMNS = ("charge_id", "source", "file", "row", "service", "resource", "pi", "project", "billed", "list",
               "reason", "note", "status")
HELD = (REJECTED, PENDING)  # the review statuses left out of charges_approved
ZERO = Decimal(0)

# Approved charges that still reach no one, or bill nothing for something: one reason each, ownerless first.
_NO_PI = "nullif(trim(pi_email), '') IS NULL"
_NO_PROJECT = "nullif(trim(project_id), '') IS NULL"
_ZERO_PRICED = "billed_cost = 0 AND (coalesce(list_cost, 0) > 0 OR coalesce(pricing_quantity, 0) > 0)"
APPROVED_UNBILLED_SQL = f"""
SELECT charge_id, source, file_name, file_row_number, service_name, resource_id, pi_email, project_id,
    billed_cost, coalesce(list_cost, billed_cost) AS list_cost, {_NO_PI} AS no_pi, {_NO_PROJECT} AS no_project,
    pricing_quantity, review_status
FROM charges_approved
WHERE billing_month = ? AND ({_NO_PI} OR {_NO_PROJECT} OR ({_ZERO_PRICED}))
"""
APPROVED_TOTAL_SQL = "SELECT count(*), coalesce(sum(billed_cost), 0) FROM charges_approved WHERE billing_month = ?"


class UnbilledError(ValueError):
    """The report cannot be made (an unknown month) or its CSV would not be safe; nothing was written."""


@dataclass(frozen=True)
class UnbilledLine:
    """One charge that was imported and not billed to any PI's project (or billed 0), with why."""

    charge_id: str
    source: str
    file_name: str | None
    file_row_number: int
    service_name: str | None
    resource_id: str | None
    pi_email: str | None
    project_id: str | None
    billed: Decimal
    list_cost: Decimal
    reason: str
    note: str
    status: str  # the charge's review status (review/state.py): rejected, pending, or a billable one

    def csv_row(self) -> tuple[Any, ...]:
        return (self.charge_id, self.source, self.file_name, self.file_row_number, self.service_name,
                self.resource_id, self.pi_email, self.project_id, self.billed, self.list_cost, self.reason,
                self.note, self.status)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(CSV_COLUMNS, self.csv_row(), strict=True))


@dataclass(frozen=True)
class UnbilledGroup:
    """The charges, billed and list money of one (source, reason)."""

    source: str
    reason: str
    charges: int
    billed: Decimal
    list_total: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "reason": self.reason, "charges": self.charges, "billed": self.billed,
                "list": self.list_total}


@dataclass(frozen=True)
class UnbilledReport:
    """A month's unbilled charges, grouped by source and reason, and the totals they reconcile with."""

    month: str
    period_status: str
    figures: Reconciliation  # imported = approved + pending + rejected (the review state's approved)
    approved_table: tuple[int, Decimal]  # rows and billed of charges_approved (what statements and journal read)
    lines: tuple[UnbilledLine, ...]

    @property
    def groups(self) -> list[UnbilledGroup]:
        sums: dict[tuple[str, str], list[Any]] = {}
        for line in self.lines:
            entry = sums.setdefault((line.source, line.reason), [0, ZERO, ZERO])
            entry[0] += 1
            entry[1] += line.billed
            entry[2] += line.list_cost
        order = {r: i for i, r in enumerate(REASONS)}
        return [UnbilledGroup(s, r, n, b, lt) for (s, r), (n, b, lt) in
                sorted(sums.items(), key=lambda kv: (kv[0][0], order[kv[0][1]]))]

    def by_reason(self, reason: str, *, approved_only: bool = False) -> tuple[int, Decimal, Decimal]:
        """Charges, billed and list money of one reason (`approved_only`: of its charges in charges_approved)."""
        chosen = [x for x in self.lines if x.reason == reason and not (approved_only and x.status in HELD)]
        return (len(chosen), sum((x.billed for x in chosen), ZERO), sum((x.list_cost for x in chosen), ZERO))

    @property
    def ownerless_billed(self) -> Decimal:
        """Ownerless money, pending or approved."""
        return self.by_reason(OWNERLESS)[1]

    @property
    def statement_billed(self) -> Decimal:
        """Approved money that reached a PI's project statement: charges_approved less its ownerless charges."""
        return self.approved_table[1] - self.by_reason(OWNERLESS, approved_only=True)[1]

    @property
    def unbilled_billed(self) -> Decimal:
        """Imported money no PI's project is billed for: rejected, ownerless and pending."""
        return sum((self.by_reason(r)[1] for r in (REJECTED, OWNERLESS, PENDING)), ZERO)

    def problems(self, symbol: str = "$") -> list[str]:
        """Why the figures cannot be trusted as they stand (empty: they reconcile)."""
        found = self.figures.problems(symbol)
        rows, billed = self.approved_table
        f = self.figures
        if rows != f.approved_rows or billed != f.approved_billed:
            found.append(f"charges_approved holds {rows:,} charge(s) {format_money(billed, symbol)} but the review "
                         f"state approves {f.approved_rows:,} {format_money(f.approved_billed, symbol)}: materialise "
                         f"charges_approved for {self.month} (review_job) first")
        return found

    def totals(self) -> dict[str, Any]:
        """The month's money as the report shows it (exact Decimals)."""
        f = self.figures
        approved_ownerless = self.by_reason(OWNERLESS, approved_only=True)[0]
        reasons = {r: dict(zip(("charges", "billed", "list"), self.by_reason(r), strict=True)) for r in REASONS}
        return {
            # by review status: imported = approved + pending + rejected
            "imported": {"charges": f.imported_rows, "billed": f.imported_billed},
            "approved": {"charges": f.approved_rows, "billed": f.approved_billed},
            "pending": {"charges": f.pending_rows, "billed": f.pending_billed},
            "rejected": {"charges": f.rejected_rows, "billed": f.rejected_billed},
            # what the statements read, and how much of it reached a PI's project statement
            "charges_approved": {"charges": self.approved_table[0], "billed": self.approved_table[1]},
            "billed_to_statements": {"charges": self.approved_table[0] - approved_ownerless,
                                     "billed": self.statement_billed},
            # by reason: the report's lines; not billed = rejected + ownerless + pending
            "reasons": reasons,
            "not_billed": {"charges": sum(reasons[r]["charges"] for r in (REJECTED, OWNERLESS, PENDING)),
                           "billed": self.unbilled_billed},
        }

    def describe(self, symbol: str = "$") -> list[str]:
        """The totals in words: the reconciliation, then what of the approved money reached a statement."""
        t = self.totals()
        r = t["reasons"]
        return [
            self.figures.describe(symbol),
            f"approved {format_money(t['charges_approved']['billed'], symbol)} in charges_approved, of which billed to "
            f"a PI's project statement {format_money(self.statement_billed, symbol)}",
            f"not billed {format_money(self.unbilled_billed, symbol)} ({t['not_billed']['charges']} charge(s)): "
            + ", ".join(f"{x} {format_money(r[x]['billed'], symbol)}" for x in (REJECTED, OWNERLESS, PENDING))
            + f"; zero-priced {r[ZERO_PRICED]['charges']} charge(s), list "
              f"{format_money(r[ZERO_PRICED]['list'], symbol)}",
        ]

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.month, "status": self.period_status, "totals": self.totals(),
                "reconciled": not self.problems(), "problems": self.problems(),
                "groups": [g.as_dict() for g in self.groups], "lines": [x.as_dict() for x in self.lines]}

    def csv_text(self) -> str:
        """The detailed lines as CSV (CRLF), every cell made safe; UnbilledError if any cell still is not."""
        text = write_rows([CSV_COLUMNS, *(x.csv_row() for x in self.lines)])
        unsafe = unsafe_cells(text)
        if unsafe:
            raise UnbilledError(f"the unbilled report of {self.month} is not safe to open in a spreadsheet; "
                                f"nothing was written: {'; '.join(unsafe)}")
        return text


def _missing(value: str | None) -> bool:
    """No value, as the statements see it (surrounding spaces are not a value)."""
    return not (value or "").strip(" ")


def _held_lines(con: duckdb.DuckDBPyConnection, month: str) -> list[UnbilledLine]:
    """Rejected and pending charges from the review state, with the reviewer's note or the review reasons."""
    lines = []
    for s in charge_states(con, month, statuses=HELD, row_hash=False):
        status = s["review_status"]
        no_pi, no_project = _missing(s["pi_email"]), _missing(s["project_id"])
        queue = "; ".join(s["queue_reasons"] or [])
        if status == REJECTED:
            reason, note = REJECTED, s["decision_note"] or ""
        elif no_pi or no_project:
            reason, note = OWNERLESS, f"{_owner_missing(no_pi, no_project)}; pending review: {queue}"
        else:
            reason, note = PENDING, queue
        billed = s["billed_cost"]
        lines.append(UnbilledLine(
            s["charge_id"], s["source"], s["file_name"], s["file_row_number"], s["service_name"], s["resource_id"],
            s["pi_email"], s["project_id"], billed, billed if s["list_cost"] is None else s["list_cost"], reason,
            note, status))
    return lines


def _plain(amount: Decimal) -> str:
    """An exact amount without its trailing zeros (12.5, not 12.5000000000), for a note."""
    return format(amount.normalize(), "f") if amount else "0"


def _owner_missing(no_pi: bool, no_project: bool) -> str:
    return "no PI and no project" if no_pi and no_project else "no PI" if no_pi else "no project"


def _ownerless_note(no_pi: bool, no_project: bool) -> str:
    """Where an approved charge without an owner went: a statement of no PI, or the PI's "(no project)" one."""
    where = "on no PI's statement" if no_pi else "on the PI's (no project) statement"
    return f"{_owner_missing(no_pi, no_project)}: approved as is, {where}"


def _approved_lines(con: duckdb.DuckDBPyConnection, month: str) -> list[UnbilledLine]:
    """Approved charges that reach no PI's project statement (ownerless) or bill 0 for something (zero-priced)."""
    lines = []
    for (charge_id, source, file_name, row, service, resource, pi, project, billed, listed, no_pi, no_project,
         quantity, status) in con.execute(APPROVED_UNBILLED_SQL, [month]).fetchall():
        if no_pi or no_project:
            reason, note = OWNERLESS, _ownerless_note(no_pi, no_project)
        else:
            reason = ZERO_PRICED
            note = f"billed 0 for list {_plain(listed)}" + (f", quantity {_plain(quantity)}" if quantity else "")
        lines.append(UnbilledLine(charge_id, source, file_name, row, service, resource, pi, project, billed, listed,
                                  reason, note, status))
    return lines


def build_report(con: duckdb.DuckDBPyConnection, month: str) -> UnbilledReport:
    """The month's unbilled report, read in one go (UnbilledError for a month with no period and no import)."""
    check_period_key(month)
    period = get_period(con, month)
    imported = con.execute("SELECT count(*) FROM imports WHERE billing_month = ?", [month]).fetchall()[0][0]
    if period is None and not imported:
        raise UnbilledError(f"billing month {month} does not exist: import its data first (`ocb ingest`)")
    order = {r: i for i, r in enumerate(REASONS)}
    lines = sorted([*_held_lines(con, month), *_approved_lines(con, month)],
                   key=lambda x: (order[x.reason], x.source, x.file_name or "", x.file_row_number, x.charge_id))
    rows, billed = con.execute(APPROVED_TOTAL_SQL, [month]).fetchall()[0]
    return UnbilledReport(month, period.status if period else "open", reconcile(con, month),
                          (rows, Decimal(billed)), tuple(lines))


# ------------------------------------------------------------------------------------------------
# The CSV in the journal folder
# ------------------------------------------------------------------------------------------------


def csv_stem(month: str) -> str:
    return f"unbilled_{month}"


def _numbered_csvs(directory: Path, month: str) -> list[tuple[int, Path]]:
    """The month's report files in the folder with their number: `unbilled_M.csv` is 1, `unbilled_M_N.csv` N."""
    stem = csv_stem(month)
    numbered = re.compile(rf"^{re.escape(stem)}_(\d+)\.csv$")
    found = [(1, p) for p in [directory / f"{stem}.csv"] if p.is_file()]
    return found + [(int(m.group(1)), p) for p in directory.glob(f"{stem}_*.csv") if (m := numbered.match(p.name))]


def newest_csv(directory: Path, month: str) -> Path | None:
    """The month's latest report file in the folder: `unbilled_M.csv`, or the highest `unbilled_M_N.csv`."""
    found = _numbered_csvs(directory, month)
    return max(found)[1] if found else None


def write_report_csv(report: UnbilledReport, directory: Path) -> tuple[Path, str, str]:
    """Write the report's CSV into `directory` (the journal folder): (path, status, sha256). Never overwrites:
    a changed report gets the number after the latest file's (`_2`, `_3`, ...); one identical to the latest file
    is `unchanged` and writes nothing, so re-running a month end leaves one file per version of the report."""
    data = report.csv_text().encode("utf-8")
    sha = sha256_text(data)
    stem = csv_stem(report.month)
    while True:
        found = _numbered_csvs(directory, report.month)
        if not found:
            target = directory / f"{stem}.csv"
        else:
            number, latest = max(found)
            if sha256_text(latest.read_bytes()) == sha:
                return latest, "unchanged", sha
            target = directory / f"{stem}_{number + 1}.csv"
        try:  # an atomic hard link of a finished file: complete or absent, and never over another writer's
            return write_exact_file(target, data), "written", sha
        except FileExistsError:
            continue
