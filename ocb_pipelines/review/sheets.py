"""Review sheets: the review queue as a CSV for spreadsheet users, and applying a filled-in sheet.

Format (written with the csv module, UTF-8, opened by any spreadsheet)::

    ocb_review_sheet,1
    period,2025-01
    reviewer,                      <- fill in: the actor of every decision in the sheet
    exported_at,2025-02-03 09:00:00
    currency,USD
    instructions,"..."
    <empty line>
    charge_id,row_hash,source,file_name,file_row_number,service_name,resource_id,pi_email,project_id,
      fund_org,billed_cost,reasons,decision,note,new_pi_email,new_project_id,new_fund_org

A line with an empty `decision` is left undecided. `decision` is approve, reject or correct; `note` is
required; for correct, fill any of new_pi_email / new_project_id / new_fund_org. The reviewer may also
be given as a `reviewer` column (one name for the whole sheet).

Safety: text cells starting with = + - @ tab or CR are prefixed with a single quote so a spreadsheet
shows them as text instead of running them as formulas; reading undoes that prefix. Amounts are
written as plain decimal numbers and are checked on the way back (an edited amount refuses the sheet),
and `row_hash` pins the data the reviewer saw (if the charge changed since the export, the sheet is
refused: export a new one).

A sheet is all or nothing: every problem is reported as "file line N, column C, value V: why", and
nothing of a refused sheet is recorded except an audit event saying it was refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb

from ocb_pipelines.core.billing_month import is_month_key
from ocb_pipelines.review.decisions import Decision, check_decisions, insert_decisions, normalize_decision
from ocb_pipelines.review.state import charge_states
from ocb_pipelines.warehouse import database as wh

MARKER = "ocb_review_sheet"
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
SHEET_COLUMNS = (
    "charge_id", "row_hash", "source", "file_name", "file_row_number", "service_name", "resource_id",
    "pi_email", "project_id", "fund_org", "billed_cost", "reasons", "decision", "note",
    "new_pi_email", "new_project_id", "new_fund_org",
)  # fmt: skip
REQUIRED_COLUMNS = ("charge_id", "row_hash", "billed_cost", "decision", "note")
NUMERIC_COLUMNS = ("billed_cost", "file_row_number")
INSTRUCTIONS = (
    "Fill in reviewer (above). For each charge: decision = approve, reject or correct (empty = undecided), "
    "a note, and for correct the new_pi_email / new_project_id / new_fund_org. Do not edit other columns. "
    "Save as CSV into the review folder."
)


class SheetRefused(ValueError):
    """A review sheet was refused; nothing of it was applied. `problems` has one line per problem."""

    def __init__(self, file_name: str, problems: Sequence[str]):
        self.file_name = file_name
        self.problems = list(problems)
        super().__init__(f"review sheet {file_name} refused; nothing was applied:\n  - " + "\n  - ".join(self.problems))


def neutralise(text: Any) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    value = "" if text is None else str(text)
    return "'" + value if value.startswith(FORMULA_CHARS) else value


def unneutralise(text: str) -> str:
    """Undo `neutralise` (only a quote followed by a formula character is ours)."""
    if len(text) >= 2 and text[0] == "'" and text[1] in FORMULA_CHARS:
        return text[1:]
    return text


def _money_text(value: Any) -> str:
    return "" if value is None else format(Decimal(value), "f")


def export_sheet(
    con: duckdb.DuckDBPyConnection,
    month: str,
    path: str | Path,
    *,
    currency: str = "USD",
    source: str | None = None,
    reason: str | None = None,
    pi: str | None = None,
    reviewer: str = "",
) -> int:
    """Write the month's review queue (optionally filtered) as a review sheet; return the line count."""
    states = charge_states(con, month, source=source, reason=reason, pi=pi)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([MARKER, "1"])
        writer.writerow(["period", month])
        writer.writerow(["reviewer", neutralise(reviewer)])
        writer.writerow(["exported_at", f"{wh.now_utc():%Y-%m-%d %H:%M:%S}"])
        writer.writerow(["currency", neutralise(currency)])
        writer.writerow(["instructions", INSTRUCTIONS])
        writer.writerow([])
        writer.writerow(SHEET_COLUMNS)
        for s in states:
            cells = {
                **{c: s.get(c) for c in SHEET_COLUMNS},
                "reasons": ";".join(s["queue_reasons"] or []),
                "decision": "", "note": "", "new_pi_email": "", "new_project_id": "", "new_fund_org": "",
            }  # fmt: skip
            writer.writerow(
                [_money_text(cells[c]) if c == "billed_cost" else str(cells[c]) if c in NUMERIC_COLUMNS
                 else neutralise(cells[c]) for c in SHEET_COLUMNS]
            )
    return len(states)


@dataclass
class SheetLine:
    line: int
    cells: dict[str, str]


@dataclass
class ParsedSheet:
    file_name: str
    sha256: str
    period: str | None = None
    period_line: int | None = None
    reviewer: str = ""
    reviewer_line: int | None = None
    lines: list[SheetLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def decided(self) -> list[SheetLine]:
        return [ln for ln in self.lines if ln.cells.get("decision", "").strip()]


def _where(name: str, line: int | None, column: str | None = None, value: str | None = None) -> str:
    text = f"{name} line {line}" if line else name
    if column:
        text += f", column {column}"
    if value is not None:
        text += f", value {value!r}"
    return text


def parse_sheet(path: str | Path, period_hint: str | None = None, signed_in: str | None = None) -> ParsedSheet:
    """Read a sheet (no database): preamble, header, lines; structural problems are collected. `signed_in`: the
    user applying it where users sign in (the desk) is its reviewer; a sheet naming someone else is refused."""
    path = Path(path)
    raw = path.read_bytes()
    sheet = ParsedSheet(path.name, hashlib.sha256(raw).hexdigest())
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        sheet.problems.append(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as CSV UTF-8")
        return sheet
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    reviewer_column: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            cells = [unneutralise(c).strip() for c in row]
            if header is None:
                if not any(cells):
                    continue
                key = cells[0].lower()
                if key == "charge_id":
                    header = [c.lower() for c in cells]
                    missing = [c for c in REQUIRED_COLUMNS if c not in header]
                    if missing:
                        lacking = ", ".join(missing)
                        sheet.problems.append(f"{_where(path.name, line)}: the header lacks column(s) {lacking}")
                        return sheet
                elif key == "period":
                    sheet.period, sheet.period_line = (cells[1] if len(cells) > 1 else ""), line
                elif key == "reviewer":
                    sheet.reviewer, sheet.reviewer_line = (cells[1] if len(cells) > 1 else ""), line
                continue
            if not any(cells):
                continue
            values = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header) if name}
            sheet.lines.append(SheetLine(line, values))
            if values.get("reviewer"):
                reviewer_column.setdefault(values["reviewer"], line)
    except csv.Error as exc:
        sheet.problems.append(f"{_where(path.name, reader.line_num)}: not readable as CSV: {exc}")
        return sheet
    if header is None:
        sheet.problems.append(f"{path.name}: no header line starting with charge_id; is this a review sheet?")
        return sheet
    if not sheet.period:
        sheet.period = period_hint
    if not is_month_key(sheet.period):
        sheet.problems.append(f"{_where(path.name, sheet.period_line, 'period', sheet.period or '')}: "
                              "the sheet must name its billing month (YYYY-MM) on a `period` line")
    if not sheet.reviewer and reviewer_column:
        if len(reviewer_column) > 1:
            names = ", ".join(f"{n!r} (line {ln})" for n, ln in reviewer_column.items())
            sheet.problems.append(f"{path.name}: column reviewer: one sheet, one reviewer; found {names}")
        else:
            (sheet.reviewer, sheet.reviewer_line), = reviewer_column.items()
    if signed_in:
        if sheet.reviewer and sheet.reviewer.casefold() != signed_in.casefold():
            sheet.problems.append(
                f"{_where(path.name, sheet.reviewer_line, 'reviewer', sheet.reviewer)}: the sheet names another "
                f"reviewer than {signed_in}, who is signed in and would be recorded as deciding; write {signed_in} "
                f"on the reviewer line (or leave it empty), or let {sheet.reviewer} apply it")
        sheet.reviewer = signed_in
    if sheet.decided and not sheet.reviewer:
        sheet.problems.append(f"{_where(path.name, sheet.reviewer_line, 'reviewer', '')}: "
                              "name the reviewer (the person deciding) on the `reviewer` line")
    return sheet


def peek_sheet(path: str | Path) -> ParsedSheet:
    """The sensor's cheap look: period and decided lines, no database."""
    from ocb_pipelines.ingest.focus import period_from_filename

    return parse_sheet(path, period_hint=period_from_filename(Path(path).name))


def sheet_decisions(con: duckdb.DuckDBPyConnection, sheet: ParsedSheet,
                    fund_org_patterns: Sequence[str] = ()) -> tuple[list[Decision], list[str]]:
    """Turn decided lines into Decisions, checking them against the warehouse (ids, amounts, data)."""
    problems: list[str] = []
    month = sheet.period or ""
    decided = sheet.decided
    ids = sorted({ln.cells.get("charge_id", "") for ln in decided})
    current = {
        c: (h, b)
        for c, h, b in con.execute(
            "SELECT charge_id, row_hash, billed_cost FROM charges_validated "
            "WHERE billing_month = ? AND list_contains(?, charge_id)",
            [month, ids],
        ).fetchall()
    }
    decisions: list[Decision] = []
    name = sheet.file_name
    for ln in decided:
        c = ln.cells
        charge_id = c.get("charge_id", "")
        kind = normalize_decision(c.get("decision"))
        bad = False
        if kind is None:
            problems.append(f"{_where(name, ln.line, 'decision', c.get('decision'))}: "
                            "unknown decision; use approve, reject or correct (or leave it empty)")
            bad = True
        if not c.get("note", "").strip():
            problems.append(f"{_where(name, ln.line, 'note', '')}: a note is required for every decision")
            bad = True
        if charge_id not in current:
            problems.append(f"{_where(name, ln.line, 'charge_id', charge_id)}: no such charge in billing month {month}")
            continue
        row_hash, billed = current[charge_id]
        try:
            amount = Decimal(c.get("billed_cost", ""))
        except InvalidOperation:
            amount = None
        if amount is None or amount != billed:
            problems.append(f"{_where(name, ln.line, 'billed_cost', c.get('billed_cost'))}: amounts cannot be "
                            f"edited in a review sheet (the charge bills {_money_text(billed)})")
            bad = True
        if c.get("row_hash", "") != row_hash:
            problems.append(f"{_where(name, ln.line, 'row_hash', c.get('row_hash'))}: the charge changed since "
                            f"this sheet was exported (or row_hash was edited); export a new sheet")
            bad = True
        if bad:
            continue
        decisions.append(Decision(
            charge_id=charge_id, decision=kind or "", note=c.get("note", "").strip(),
            pi_email=c.get("new_pi_email") or None, project_id=c.get("new_project_id") or None,
            fund_org=c.get("new_fund_org") or None, row_hash=row_hash, origin=f"{name} line {ln.line}",
        ))  # fmt: skip
    problems += check_decisions(con, month, decisions, fund_org_patterns=fund_org_patterns)
    return decisions, problems


@dataclass
class SheetResult:
    file_name: str
    sha256: str
    period: str
    reviewer: str
    status: str  # applied | already_applied | empty
    decision_ids: list[int] = field(default_factory=list)
    message: str = ""


def apply_sheet(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    fund_org_patterns: Sequence[str] = (),
    run_id: str | None = None,
    fallback_actor: str | None = None,
    signed_in: str | None = None,
) -> SheetResult:
    """Apply a filled-in review sheet: every decision or none (SheetRefused, audited as refused).

    The sheet's reviewer is the actor of its decisions (`signed_in`: that user, see parse_sheet). A sheet with
    the same content applied before is not applied twice. A sheet for a closed or finalized month is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise SheetRefused(path.name, [f"{path.name}: file not found: {path}"])
    from ocb_pipelines.ingest.focus import period_from_filename

    sheet = parse_sheet(path, period_hint=period_from_filename(path.name), signed_in=signed_in)
    actor = sheet.reviewer or fallback_actor or wh.current_actor()
    problems = list(sheet.problems)
    decisions: list[Decision] = []
    if not problems:
        month = sheet.period or ""
        previous = con.execute(
            "SELECT applied_at, reviewer FROM review_sheets WHERE file_sha256 = ?", [sheet.sha256]
        ).fetchall()
        if previous:
            at, who = previous[0]
            return SheetResult(path.name, sheet.sha256, month, sheet.reviewer, "already_applied",
                               message=f"this sheet was already applied at {at:%Y-%m-%d %H:%M} by {who}; nothing done")
        if not sheet.decided:
            return SheetResult(path.name, sheet.sha256, month, sheet.reviewer, "empty",
                               message="no line has a decision; nothing to apply")
        status = wh.period_status(con, month)
        if status in ("closed", "finalized"):
            todo = (f"reopen it with `ocb periods reopen {month} --reason \"...\"` and drop the sheet again"
                    if status == "closed" else "book corrections in the next open month")
            problems.append(f"{_where(path.name, sheet.period_line, 'period', month)}: billing month {month} is "
                            f"{status}, so review decisions are refused; {todo}")
        else:
            decisions, found = sheet_decisions(con, sheet, fund_org_patterns)
            problems += found
    if problems:
        with wh.transaction(con):
            wh.record_audit(con, actor=actor, action="review_sheet_refused", period=sheet.period, run_id=run_id,
                            subject=path.name, details={"sha256": sheet.sha256, "problems": problems})
        raise SheetRefused(path.name, problems)
    month = sheet.period or ""
    with wh.transaction(con):
        wh.ensure_period_open(con, month, actor, action="applying a review sheet")
        ids = insert_decisions(con, month, decisions, actor=actor, via="sheet", run_id=run_id)
        con.execute("INSERT INTO review_sheets VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [sheet.sha256, path.name, month, actor, len(ids), wh.now_utc(), run_id])
        wh.record_audit(con, actor=actor, action="review_sheet_applied", period=month, run_id=run_id,
                        subject=path.name, details={"sha256": sheet.sha256, "decisions": len(ids)})
    return SheetResult(path.name, sheet.sha256, month, actor, "applied", ids,
                       message=f"{len(ids)} decision(s) recorded for {month} as {actor}")


def is_review_sheet(path: str | Path) -> bool:
    """Whether a CSV file is a review sheet rather than a FOCUS file: its first line is the `ocb_review_sheet`
    marker, or its header starts with charge_id (where one upload takes both, the content says which)."""
    with Path(path).open("rb") as handle:
        head = handle.read(65536).decode("utf-8-sig", errors="replace")
    for line in head.splitlines():
        if line.strip():
            first = next(csv.reader([line]), [""])
            return bool(first) and unneutralise(first[0]).strip().lower() in (MARKER, "charge_id")
    return False
