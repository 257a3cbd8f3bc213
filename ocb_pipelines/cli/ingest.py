"""`ocb ingest`: import FOCUS files through the same assets, in the same Dagster instance, as the UI."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import duckdb

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.cli.common import (
    CliError,
    config_option,
    emit_json,
    json_option,
    run_job,
    settings_or_exit,
)
from ocb_pipelines.cli.progress import displaying, progress_option, quiet_option, wanted
from ocb_pipelines.core import progress
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.money import format_money
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.defs.partitions import billing_month
from ocb_pipelines.ingest import importer
from ocb_pipelines.ingest.focus import expected_month, month_key, quarter_from_filename
from ocb_pipelines.ingest.legacy_layout import SourceDefaults, describe_fills
from ocb_pipelines.ingest.service import source_for
from ocb_pipelines.warehouse import database as wh


def _plan(settings: OcbSettings, files: list[Path], source: str | None) -> tuple[dict, dict[str, str]]:
    """file -> (source, months to import) and file -> refusal, by reading each file once."""
    plan: dict[Path, tuple[str, list[str]]] = {}
    refused: dict[str, str] = {}
    previous: dict[tuple[str, str], set[str]] = defaultdict(set)
    locked: dict[str, str] = {}  # month -> closed | finalized
    if settings.warehouse_path.exists():
        try:
            with wh.connect(settings.warehouse_path) as con:
                for s, f, m in con.execute("SELECT source, file_name, billing_month FROM import_files").fetchall():
                    previous[(s, f)].add(m)
                locked = dict(con.execute(
                    "SELECT period, status FROM billing_periods WHERE status <> 'open'").fetchall())
        except duckdb.Error:
            pass  # warehouse busy or older: only the months found in the files are imported
    for path in files:
        if not path.is_file():
            refused[path.name] = f"{path.name}: file not found: {path}"
            continue
        try:
            file_source = source_for(path, settings, source)
            facts = importer.inspect_file(path)
        except importer.ImportRefused as exc:
            refused[path.name] = str(exc)
            continue
        if facts.row_count == 0:
            refused[path.name] = f"{path.name}: the file has a header but no data rows"
            continue
        months = sorted(set(facts.months) | previous[(file_source, path.name)])
        shut = [f"{m} is {locked[m]}" for m in months if m in locked]
        if shut and len(shut) < len(months):  # a file goes in whole or not at all: not into its open months alone
            refused[path.name] = (f"{path.name}: its rows fall in {', '.join(months)}, but {', '.join(shut)}; "
                                  "nothing of it was imported (reopen the month, or split the file by month)")
            continue
        plan[path] = (file_source, months)
    return plan, refused


def _duplicate_of(con: duckdb.DuckDBPyConnection, source: str, month: str, path: Path) -> str | None:
    """The file already imported for the month and source with the same content under another name: the import
    skips a file whose content is there already (a copy renamed), so its rows are not doubled."""
    found = con.execute(
        "SELECT file_name FROM import_files WHERE source = ? AND billing_month = ? AND file_sha256 = ? "
        "AND file_name <> ? ORDER BY file_name LIMIT 1",
        [source, month, importer.file_digest(path, con), path.name],
    ).fetchall()
    return found[0][0] if found else None


def _summary(settings: OcbSettings, con: duckdb.DuckDBPyConnection, plan: dict, refused: dict[str, str],
             statuses: dict[tuple[str, str], str], runs: list[dict]) -> dict[str, Any]:
    files_out = []
    totals = defaultdict(lambda: Decimal(0))
    counts = defaultdict(int)
    for path, (source, months) in plan.items():
        if path.name in refused:
            continue
        rows = con.execute(
            """SELECT count(*), coalesce(sum(billed_cost), 0), coalesce(sum(coalesce(list_cost, billed_cost)), 0),
                      count(*) FILTER (WHERE needs_review), coalesce(sum(billed_cost) FILTER (WHERE needs_review), 0)
               FROM charges_validated WHERE source = ? AND file_name = ? AND list_contains(?, billing_month)""",
            [source, path.name, months],
        ).fetchall()[0]
        said = {statuses.get((path.name, m), "imported") for m in months}
        filled = con.execute(
            "SELECT filled_columns FROM imports WHERE source = ? AND file_name = ? AND list_contains(?, billing_month) "
            "AND filled_columns IS NOT NULL ORDER BY import_key DESC LIMIT 1",
            [source, path.name, months],
        ).fetchall()
        twins = sorted({s.removeprefix("duplicate of ") for s in said if s.startswith("duplicate of ")})
        entry = {
            "file": path.name, "source": source, "periods": months,
            "status": sorted({"duplicate" if s.startswith("duplicate of ") else s for s in said}),
            "duplicate_of": twins,
            "rows": rows[0], "billed_total": rows[1], "list_total": rows[2],
            "flagged_rows": rows[3], "flagged_billed": rows[4], "errors": [],
            "filled_columns": json.loads(filled[0][0]) if filled else {},
            "notes": _name_notes(path.name),
        }
        files_out.append(entry)
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
        "periods": sorted({m for _, months in plan.values() for m in months}),
        "rows": counts["rows"],
        "billed_total": totals["billed_total"],
        "list_total": totals["list_total"],
        "flagged_rows": counts["flagged_rows"],
        "flagged_billed": totals["flagged_billed"],
        "currency": settings.currency.code,
        "errors": [line for e in refused.values() for line in e.splitlines()],
        "runs": runs,
    }


def _name_notes(name: str) -> list[str]:
    """What the file's name says that the reader should know (an OpenChargeback quarter name)."""
    quarter = quarter_from_filename(name)
    if not quarter:
        return []
    label, months = quarter
    return [f"the name names quarter {label}: each row is billed in the month of its BillingPeriodStart; rows "
            f"outside {months[0]}..{months[-1]} are flagged period_mismatch"]


def _dry_run(settings: OcbSettings, plan: dict, refused: dict[str, str], expected: str | None, actor: str) -> dict:
    """The same import and validation, into a throwaway in-memory warehouse."""
    statuses: dict[tuple[str, str], str] = {}
    with duckdb.connect(":memory:") as con:
        wh.configure(con)
        wh.ensure_schema(con)
        months = set()
        for path, (source, file_months) in plan.items():
            label = ",".join(file_months)
            progress.report("import_file_start", month=label, file=path.name, connection=con)
            rows = 0
            try:
                for month in file_months:  # month by month, each with the month it expects, as the real run does
                    for result in importer.import_file(
                        con, path, months=[month], source=source, actor=actor,
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
            build_validated(con, month, rules_from(settings), actor=actor)
        summary = _summary(settings, con, plan, refused, statuses, runs=[])
    summary["dry_run"] = True
    return summary


def _run(settings: OcbSettings, config_path: str | None, plan: dict, refused: dict[str, str],
         expected: str | None, source: str | None, actor: str) -> dict:
    valid = set(billing_month.get_partition_keys())
    by_month: dict[str, list[str]] = defaultdict(list)
    for path, (_source, months) in plan.items():
        for month in months:
            by_month[month].append(str(path.resolve()))
    runs: list[dict] = []
    statuses: dict[tuple[str, str], str] = {}
    failed: dict[str, str] = {}  # month -> why its run failed
    for month, paths in sorted(by_month.items()):
        if month not in valid:
            for p in paths:
                refused[Path(p).name] = f"{Path(p).name}: month {month} is outside the billing calendar"
            continue
        run = run_job(settings, "ingest_job", month, actor, run_config={"ops": {"focus_raw": {"config": {
            "files": paths, "source": source or "", "expected_period": expected or "", "actor": actor}}}})
        runs.append({"period": month, "run_id": run["run_id"], "success": run["success"]})
        if not run["success"]:
            failed[month] = run["error"]
    run_ids = [r["run_id"] for r in runs]
    problems: dict[str, list[str]] = defaultdict(list)  # file -> what went wrong after (some of) it went in
    with wh.connect(settings.warehouse_path) as con:
        for subject, details in con.execute(
            "SELECT subject, details FROM audit_events WHERE list_contains(?, run_id) AND action = 'import_refused'",
            [run_ids],
        ).fetchall():
            refused[subject] = json.loads(details)["error"]
        for path, (file_source, months) in plan.items():
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
                if month in failed and path.name not in refused:
                    # What was recorded decides what is said: a run that failed after the import committed (its
                    # validation, say) imported the file; its month must be validated again before it closes.
                    what = ("imported, but its run failed afterwards, so the month is not validated; run `ocb "
                            "ingest` again" if row and row[0][0] in run_ids else "not imported")
                    problems[path.name].append(f"{path.name}: {month}: {what}: {failed[month]}")
        for path in plan:
            if problems[path.name] and not any(statuses.get((path.name, m)) == "imported" for m in plan[path][1]):
                refused[path.name] = "\n".join(problems.pop(path.name))  # nothing of it went in: refused, truly
        summary = _summary(settings, con, plan, refused, statuses, runs)
    for entry in summary["files"]:
        entry.setdefault("errors", [])
        if problems.get(entry["file"]):
            entry["errors"] += problems[entry["file"]]
            summary["errors"] += problems[entry["file"]]
            summary["ok"] = False
    return summary


def _print_summary(summary: dict, settings: OcbSettings) -> None:
    symbol = settings.currency.symbol
    title = "Import summary (dry run: nothing written)" if summary.get("dry_run") else "Import summary"
    click.echo(title)
    for f in summary["files"]:
        if "refused" in f["status"]:
            click.echo(f"  REFUSED  {f['file']}")
            for line in f["errors"][:12]:
                click.echo(f"           {line}")
            continue
        if f["status"] == ["duplicate"]:
            click.echo(f"  {'skipped':9} {f['file']}  source={f['source']}  periods={','.join(f['periods'])}  "
                       f"duplicate of {', '.join(f['duplicate_of'])} (same content): skipped, not doubled")
            continue
        twins = f"  (duplicate of {', '.join(f['duplicate_of'])} in some periods)" if f["duplicate_of"] else ""
        click.echo(
            f"  {'/'.join(f['status']):9} {f['file']}  source={f['source']}  periods={','.join(f['periods'])}  "
            f"rows={f['rows']:,}  billed={format_money(f['billed_total'], symbol)}  "
            f"flagged={f['flagged_rows']:,} ({format_money(f['flagged_billed'], symbol)}){twins}"
        )
        if f["filled_columns"]:
            click.echo(f"{'':11}filled (OpenChargeback layout): {'; '.join(describe_fills(f['filled_columns']))}")
        for note in f["notes"]:
            click.echo(f"{'':11}{note}")
    click.echo(
        f"Total: {summary['rows']:,} rows, billed {format_money(summary['billed_total'], symbol)}, "
        f"list {format_money(summary['list_total'], symbol)}, flagged {summary['flagged_rows']:,} rows "
        f"({format_money(summary['flagged_billed'], symbol)}) in {', '.join(summary['periods']) or 'no period'}"
    )
    for f in summary["files"]:
        if "refused" not in f["status"]:
            for line in f.get("errors", []):
                click.echo(f"  PROBLEM  {line}")
    refused = sum(1 for f in summary["files"] if "refused" in f["status"])
    if refused:
        click.echo(f"{refused} file(s) refused; nothing of them was imported.")


@click.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-s", "--source", default=None, help="Source name (default: from imports.known_sources patterns).")
@click.option("-p", "--period", default=None, help="Expected billing month YYYY-MM; other months' rows are flagged.")
@click.option("--dry-run", is_flag=True, help="Read, gate and validate, but write nothing.")
@click.option("--init", "init", is_flag=True,
              help="First run: create the warehouse at database.path (refused without it when it does not exist).")
@progress_option
@quiet_option
@config_option
@json_option
def ingest_command(files, source, period, dry_run, init, show_progress, quiet, config_path, as_json):
    """Import FOCUS files (CSV, CSV.gz, Parquet) into their billing months and validate them.

    Exit code 0 only when every file was imported (or was already there)."""
    settings = settings_or_exit(config_path, new_warehouse_ok=init or dry_run)
    if period:
        try:
            month_key(period)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    actor = wh.current_actor()
    paths = [Path(f) for f in files]
    plan, refused = _plan(settings, paths, source)
    steps = len(plan) if dry_run else sum(len(months) for _, months in plan.values())
    with displaying(wanted(show_progress, as_json, quiet), files_total=steps):
        if dry_run:
            summary = _dry_run(settings, plan, refused, period, actor)
        else:
            summary = _run(settings, config_path, plan, refused, period, source, actor)
    failure = _failure(summary)
    if failure:
        summary["error"] = failure
    if as_json:
        emit_json(summary)
    elif not quiet:
        _print_summary(summary, settings)
    if failure:
        raise CliError(failure, reported=True)


def _failure(summary: dict) -> str:
    """The one-line reason an import did not fully succeed ('' when it did)."""
    if summary["ok"]:
        return ""
    refused = [f["file"] for f in summary["files"] if "refused" in f["status"]]
    first = next(iter(summary["errors"]), "")
    if not refused:
        return f"imported, with problems: {first}"
    return f"{len(refused)} of {len(summary['files'])} file(s) refused ({', '.join(refused[:3])}" + (
        ", ...)" if len(refused) > 3 else ")") + (f": {first}" if len(refused) == 1 and first else "")
