"""Import FOCUS files: plan which months each file touches, run one tagged `ingest_job` per month (or a dry run
into a throwaway warehouse), and report per file what went in, exactly as recorded.

`ocb ingest`, `ocb demo` and the review desk call these; the inbox sensor and the `focus_raw` asset use the same
domain functions (ingest.service) underneath. A file goes in whole or not at all (invariant 9). Its rows for a
closed or finalized month are late data (ingest/late.py): kept against that month, the difference booked as
adjustment lines in the next open month, which is validated afterwards (late_adjustments_job).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ocb_pipelines.charges.attribution import rules_from
from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core import progress
from ocb_pipelines.ingest import importer, late
from ocb_pipelines.ingest.billing_months import calendar_problem
from ocb_pipelines.ingest.focus import expected_month, quarter_from_filename
from ocb_pipelines.ingest.legacy_layout import SourceDefaults
from ocb_pipelines.ingest.service import source_for, source_timezone
from ocb_pipelines.periods.lifecycle import list_periods
from ocb_pipelines.pricing.engine import PricingRefused, price_month
from ocb_pipelines.pricing.files import PricingFileError
from ocb_pipelines.services.calendar import before_first_month
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.warehouse import database as wh


@dataclass
class ImportPlan:
    """Each readable file's source and the months it will be imported into; each refused file's reason."""

    files: dict[Path, tuple[str, list[str]]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # file name -> why nothing of it is imported
    notes: dict[Path, tuple[str, ...]] = field(default_factory=dict)  # what inspecting a file found to report
    source: str | None = None  # the source named for every file (`-s`), else each file's from its name

    def steps(self, dry_run: bool = False) -> int:
        """How many file imports the progress display will see: one per file (dry run) or per file and month."""
        return len(self.files) if dry_run else sum(len(months) for _, months in self.files.values())


def plan_import(ctx: AppContext, files: Sequence[Path], source: str | None = None) -> ImportPlan:
    """Read each file once: its source, the months its rows fall in (and those it was imported into before, so
    a corrected file removes its old rows there), and a refusal where it cannot go in whole."""
    plan = ImportPlan(source=source)
    previous: dict[tuple[str, str], set[str]] = defaultdict(set)
    locked: dict[str, str] = {}  # month -> closed | finalized
    if ctx.settings.warehouse_path.exists():
        try:
            with ctx.connection() as con:
                for s, f, m in con.execute("SELECT source, file_name, billing_month FROM import_files").fetchall():
                    previous[(s, f)].add(m)
                locked = {p.period: p.status for p in list_periods(con) if p.status != "open"}
        except duckdb.Error:
            pass  # warehouse busy or older: only the months found in the files are imported
    for path in files:
        if not path.is_file():
            plan.refused[path.name] = f"{path.name}: file not found: {path}"
            continue
        try:
            file_source = source_for(path, ctx.settings, source)
            facts = importer.inspect_file(path, timezone=source_timezone(ctx.settings, path, source))
        except importer.ImportRefused as exc:
            plan.refused[path.name] = str(exc)
            continue
        if facts.row_count == 0:
            plan.refused[path.name] = f"{path.name}: the file has a header but no data rows"
            continue
        months = sorted(set(facts.months) | previous[(file_source, path.name)])
        shut = [f"{m} is {locked[m]}" for m in months if m in locked]
        plan.files[path] = (file_source, months)
        # Rows of a closed month are late data: kept against it, the difference booked in the next open month.
        plan.notes[path] = (*facts.notes, *(f"{s}: its rows there are late data (adjusted in the next open month)"
                                            for s in shut))
    return plan


def import_files(ctx: AppContext, plan: ImportPlan, *, expected_period: str | None = None,
                 dry_run: bool = False) -> dict[str, Any]:
    """Import the planned files (one tagged `ingest_job` run per month) or, with `dry_run`, read, gate and
    validate them into a throwaway warehouse. The summary says per file what went in; `error` is the one-line
    reason when not everything did."""
    refused = dict(plan.refused)
    run = _dry_run if dry_run else _run
    summary = run(ctx, plan, refused, expected_period)
    failure = failure_reason(summary)
    if failure:
        summary["error"] = failure
    return summary


def failure_reason(summary: dict[str, Any]) -> str:
    """The one-line reason an import did not fully succeed ('' when it did)."""
    if summary["ok"]:
        return ""
    refused = [f["file"] for f in summary["files"] if "refused" in f["status"]]
    first = next(iter(summary["errors"]), "")
    if not refused:
        return f"imported, with problems: {first}"
    return f"{len(refused)} of {len(summary['files'])} file(s) refused ({', '.join(refused[:3])}" + (
        ", ...)" if len(refused) > 3 else ")") + (f": {first}" if len(refused) == 1 and first else "")


def _duplicate_of(con: duckdb.DuckDBPyConnection, source: str, month: str, path: Path) -> str | None:
    """The file already imported for the month and source with the same content under another name: the import
    skips a file whose content is there already (a copy renamed), so its rows are not doubled."""
    found = con.execute(
        "SELECT file_name FROM import_files WHERE source = ? AND billing_month = ? AND file_sha256 = ? "
        "AND file_name <> ? ORDER BY file_name LIMIT 1",
        [source, month, importer.file_digest(path, con), path.name],
    ).fetchall()
    return found[0][0] if found else None


def _name_notes(name: str) -> list[str]:
    """What the file's name says that the reader should know (an OpenChargeback quarter name)."""
    quarter = quarter_from_filename(name)
    if not quarter:
        return []
    label, months = quarter
    return [f"the name names quarter {label}: each row is billed in the month of its BillingPeriodStart; rows "
            f"outside {months[0]}..{months[-1]} are flagged period_mismatch"]


def _summary(ctx: AppContext, con: duckdb.DuckDBPyConnection, plan: ImportPlan, refused: dict[str, str],
             statuses: dict[tuple[str, str], str], runs: list[dict]) -> dict[str, Any]:
    """Per file and in all: rows, billed and list money, flagged rows and money, as the warehouse holds them. For a
    closed month the file came late for, its late version's rows and money, and as flagged its adjustment lines in
    the month they were booked in (`adjustments`), not what the closed month billed."""
    files_out = []
    totals: dict[str, Decimal] = defaultdict(lambda: Decimal(0))
    counts: dict[str, int] = defaultdict(int)
    for path, (source, months) in plan.files.items():
        if path.name in refused:
            continue
        late_versions = _late_versions(con, source, path, months)
        rows = con.execute(
            """SELECT count(*), coalesce(sum(billed_cost), 0), coalesce(sum(coalesce(list_cost, billed_cost)), 0),
                      count(*) FILTER (WHERE needs_review), coalesce(sum(billed_cost) FILTER (WHERE needs_review), 0)
               FROM charges_validated WHERE source = ? AND file_name = ? AND list_contains(?, billing_month)""",
            [source, path.name, [m for m in months if m not in late_versions]],
        ).fetchall()[0]
        adjustments = [_late_figures(con, source, path.name, month, key) for month, key in late_versions.items()]
        rows = tuple(sum(column) for column in zip(rows, *(a.pop("totals") for a in adjustments), strict=True))
        said = {statuses.get((path.name, m), "imported") for m in months}
        filled = con.execute(
            "SELECT filled_columns FROM imports WHERE source = ? AND file_name = ? AND list_contains(?, billing_month) "
            "AND filled_columns IS NOT NULL ORDER BY import_key DESC LIMIT 1",
            [source, path.name, months],
        ).fetchall()
        twins = sorted({s.removeprefix("duplicate of ") for s in said if s.startswith("duplicate of ")})
        files_out.append({
            "file": path.name, "source": source, "periods": months,
            "status": sorted({"duplicate" if s.startswith("duplicate of ") else s for s in said}),
            "duplicate_of": twins,
            "rows": rows[0], "billed_total": rows[1], "list_total": rows[2],
            "flagged_rows": rows[3], "flagged_billed": rows[4], "errors": [],
            "filled_columns": json.loads(filled[0][0]) if filled else {},
            "adjustments": adjustments,
            "notes": _name_notes(path.name) + list(plan.notes.get(path, ())),
        })
        counts["rows"] += rows[0]
        counts["flagged_rows"] += rows[3]
        totals["billed_total"] += rows[1]
        totals["list_total"] += rows[2]
        totals["flagged_billed"] += rows[4]
    for name, error in refused.items():
        files_out.append({"file": name, "status": ["refused"], "rows": 0, "errors": error.splitlines()})
    return {
        "ok": not refused,
        "files": files_out,
        "periods": sorted({m for _, months in plan.files.values() for m in months}),
        "rows": counts["rows"],
        "billed_total": totals["billed_total"],
        "list_total": totals["list_total"],
        "flagged_rows": counts["flagged_rows"],
        "flagged_billed": totals["flagged_billed"],
        "currency": ctx.settings.currency.code,
        "errors": [line for e in refused.values() for line in e.splitlines()],
        "runs": runs,
    }


_LATE_LISTED = wh.money_from_text('coalesce("ListCost", "BilledCost")')


def _late_versions(con: duckdb.DuckDBPyConnection, source: str, path: Path, months: list[str]) -> dict[str, int]:
    """month -> late_key, for each closed month whose latest late version of the file is this very file: there the
    file holds what that version holds, not what the month billed when it closed (reported apart, with the
    adjustments its difference became)."""
    found = {}
    for month in months:
        latest = con.execute(
            "SELECT late_key, file_sha256 FROM late_imports WHERE source = ? AND file_name = ? AND billing_month = ? "
            "ORDER BY late_key DESC LIMIT 1", [source, path.name, month]).fetchall()
        if latest and latest[0][1] == importer.file_digest(path, con):
            found[month] = latest[0][0]
    return found


def _late_figures(con: duckdb.DuckDBPyConnection, source: str, file_name: str, month: str, late_key: int) -> dict:
    """A late version's rows and money as kept against the closed month, and its adjustment lines in the month they
    were booked in: those are what awaits review (`totals`: the summary's five figures for it)."""
    rows, billed, booked, lines, adjusted = con.execute(
        "SELECT row_count, billed_total, booked_month, adjustment_lines, adjustment_billed FROM late_imports "
        "WHERE late_key = ?", [late_key]).fetchall()[0]
    (listed,) = con.execute(
        f"SELECT coalesce(sum({_LATE_LISTED}), 0) FROM late_rows WHERE late_key = ?", [late_key]).fetchall()[0]
    flagged, flagged_billed = con.execute(
        "SELECT count(*), coalesce(sum(billed_cost), 0) FROM charges_validated WHERE billing_month = ? "
        "AND source = ? AND file_name = ? AND needs_review",
        [booked, source, late.adjustment_file_name(file_name, month)]).fetchall()[0]
    return {"month": month, "booked_month": booked, "lines": lines, "billed": adjusted,
            "totals": (rows, billed, listed, flagged, flagged_billed)}


def _dry_run(ctx: AppContext, plan: ImportPlan, refused: dict[str, str], expected: str | None) -> dict[str, Any]:
    """The same import and validation, into a throwaway in-memory warehouse (the real one is not even opened)."""
    settings = ctx.settings
    statuses: dict[tuple[str, str], str] = {}
    with duckdb.connect(":memory:") as con:
        wh.configure(con)
        wh.ensure_schema(con)
        months = set()
        for path, (source, file_months) in plan.files.items():
            label = ",".join(file_months)
            progress.report("import_file_start", month=label, file=path.name, connection=con)
            rows = 0
            try:
                for month in file_months:  # month by month, each with the month it expects, as the real run does
                    for result in importer.import_file(
                        con, path, months=[month], source=source, actor=ctx.actor,
                        expected_period=expected or expected_month(path.name, month),
                        defaults=SourceDefaults.of(settings, source),
                    ):
                        twin = _duplicate_of(con, source, month, path) if result.status == "duplicate" else None
                        statuses[(path.name, month)] = f"duplicate of {twin}" if twin else "would import"
                        rows += result.rows
                months.update(file_months)
            except importer.ImportRefused as exc:
                refused[path.name] = str(exc)
            progress.report("import_file_done", month=label, file=path.name, rows=rows, status="checked",
                            error=refused.get(path.name, ""))
        for month in sorted(months):
            try:  # priced as the real run prices it: a usage line without a rate is refused here too
                price_month(con, settings, month, actor=ctx.actor)
            except (PricingRefused, PricingFileError) as exc:
                for path, (_source, file_months) in plan.files.items():
                    if month in file_months and path.name not in refused:
                        refused[path.name] = f"{path.name}: {month}: not priced: {exc}"
                continue
            build_validated(con, month, rules_from(settings), actor=ctx.actor)
        summary = _summary(ctx, con, plan, refused, statuses, runs=[])
    summary["dry_run"] = True
    return summary


def _unchanged_in_locked_month(ctx: AppContext, plan: ImportPlan, month: str) -> bool:
    """True for a closed or finalized month whose every planned file is imported there already, with the same
    content: its run would change nothing, and would fail, since charges_validated refuses a closed month
    (`ocb ingest` or `ocb demo` of the same files again must still say `unchanged`, invariant 3)."""
    with ctx.connection() as con:
        if wh.period_status(con, month) not in ("closed", "finalized"):
            return False
        for path, (source, months) in plan.files.items():
            if month not in months:
                continue
            recorded = con.execute("SELECT file_sha256 FROM import_files WHERE source = ? AND file_name = ? "
                                   "AND billing_month = ?", [source, path.name, month]).fetchall()
            # The file's latest late version, if it came late: going back to the first version is a change too.
            latest = late.latest_late_sha(con, source, path.name, month) or (recorded[0][0] if recorded else None)
            if latest != importer.file_digest(path, con):
                return False
    return True


def _run(ctx: AppContext, plan: ImportPlan, refused: dict[str, str], expected: str | None) -> dict[str, Any]:
    """One `ingest_job` run per month; then what the warehouse recorded decides what each file's status is."""
    by_month: dict[str, list[str]] = defaultdict(list)
    for path, (_source, months) in plan.files.items():
        for month in months:
            by_month[month].append(str(path.resolve()))
    runs: list[dict] = []
    statuses: dict[tuple[str, str], str] = {}
    failed: dict[str, str] = {}  # month -> why its run failed
    validated: set[str] = set()  # months whose failed run still validated what went in
    for month, paths in sorted(by_month.items()):
        if calendar_problem(month):
            for p in paths:
                refused[Path(p).name] = f"{Path(p).name}: month {month} is outside the billing calendar"
            continue
        if early := before_first_month(ctx.settings, month):
            for p in paths:
                refused[Path(p).name] = f"{Path(p).name}: {early}"
            continue
        if _unchanged_in_locked_month(ctx, plan, month):
            continue  # nothing to import, and a closed month is never validated again: no run (reported unchanged)
        # A closed month's files are late data: imported (kept apart), never validated again (late_import_job).
        job = "late_import_job" if _locked(ctx, month) else "ingest_job"
        run = ctx.job(job, month, run_config={"ops": {"focus_raw": {"config": {
            "files": paths, "source": plan.source or "", "expected_period": expected or ""}}}})
        runs.append({"period": month, "run_id": run.run_id, "success": run.success})
        if not run.success:
            failed[month] = run.error
            if "charges_validated" in run.metadata:
                validated.add(month)
    runs += _validate_booked_months(ctx, [r["run_id"] for r in runs], failed)
    run_ids = [r["run_id"] for r in runs]
    problems: dict[str, list[str]] = defaultdict(list)  # file -> what went wrong after (some of) it went in
    notes: dict[str, list[str]] = defaultdict(list)  # file -> late data booked elsewhere
    with ctx.connection() as con:
        for subject, details, month in con.execute(
            "SELECT subject, details, period FROM audit_events WHERE list_contains(?, run_id) "
            "AND action = 'import_refused'",
            [run_ids],
        ).fetchall():
            refused[subject] = json.loads(details)["error"]
            if month in validated:  # the run failed on these refusals (reported per file) after validating the rest
                failed.pop(month, None)
        for path, (file_source, months) in plan.files.items():
            for month in months:
                row = con.execute(
                    "SELECT run_id FROM import_files WHERE source = ? AND file_name = ? AND billing_month = ?",
                    [file_source, path.name, month],
                ).fetchall()
                if not row:
                    twin = _duplicate_of(con, file_source, month, path)
                    statuses[(path.name, month)] = (f"duplicate of {twin}" if twin else
                                                    "removed" if month in by_month else "skipped")
                else:
                    statuses[(path.name, month)] = "imported" if row[0][0] in run_ids else "unchanged"
                if late_booking := _late_booking(con, file_source, path.name, month, run_ids):
                    statuses[(path.name, month)] = "late"
                    notes[path.name].append(late_booking)
                if month in failed and path.name not in refused:
                    # What was recorded decides what is said: a run that failed after the import committed (its
                    # validation, say) imported the file; its month must be validated again before it closes.
                    what = ("imported, but its run failed afterwards, so the month is not validated; run `ocb "
                            "ingest` again" if row and row[0][0] in run_ids else "not imported")
                    problems[path.name].append(f"{path.name}: {month}: {what}: {failed[month]}")
        for path in plan.files:
            if problems[path.name] and not any(statuses.get((path.name, m)) == "imported" for m in plan.files[path][1]):
                refused[path.name] = "\n".join(problems.pop(path.name))  # nothing of it went in: refused, truly
        summary = _summary(ctx, con, plan, refused, statuses, runs)
    for entry in summary["files"]:
        entry.setdefault("errors", [])
        entry["notes"] = [*entry.get("notes", []), *notes.get(entry["file"], [])]
        if problems.get(entry["file"]):
            entry["errors"] += problems[entry["file"]]
            summary["errors"] += problems[entry["file"]]
            summary["ok"] = False
    return summary


def _validate_booked_months(ctx: AppContext, run_ids: list[str], failed: dict[str, str]) -> list[dict]:
    """Late data these runs kept against closed months booked adjustment lines in open months: validate each of
    those months (late_adjustments_job), so their lines reach review now, daemon or not."""
    if not run_ids:
        return []
    with ctx.connection() as con:
        months = [m for (m,) in con.execute(
            "SELECT DISTINCT booked_month FROM late_imports WHERE list_contains(?, run_id) ORDER BY 1", [run_ids]
        ).fetchall()]
    runs = []
    for month in months:
        run = ctx.job("late_adjustments_job", month)
        runs.append({"period": month, "run_id": run.run_id, "success": run.success})
        if not run.success:
            failed[month] = run.error
    return runs


def _late_booking(con: duckdb.DuckDBPyConnection, source: str, file_name: str, month: str,
                  run_ids: list[str]) -> str:
    """What one of these runs did with the file's rows for a closed month ('' if nothing late)."""
    found = con.execute(
        "SELECT booked_month, adjustment_lines, adjustment_billed FROM late_imports WHERE source = ? "
        "AND file_name = ? AND billing_month = ? AND list_contains(?, run_id) ORDER BY late_key DESC LIMIT 1",
        [source, file_name, month, run_ids]).fetchall()
    if not found:
        return ""
    booked, lines, billed = found[0]
    status = wh.period_status(con, month) or "closed"
    return (f"{month} is {status}: kept as late data; {lines} adjustment line(s), {billed.normalize():f} billed in "
            f"all, booked in {booked} for review")


def _locked(ctx: AppContext, month: str) -> bool:
    with ctx.connection() as con:
        return wh.period_status(con, month) in ("closed", "finalized")
