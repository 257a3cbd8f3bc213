"""FOCUS 1.4 InvoiceDetail files: told by their header, read inside DuckDB, kept in `invoice_lines`, never billed.

An InvoiceDetail file lists the provider's invoice lines (InvoiceId, InvoiceDetailId, BilledCost, BillingAccountId,
BillingCurrency, BillingPeriodStart/End, ...); it has no ChargePeriodStart, which every cost-and-usage file has.
It goes through the same doors as any file (`ocb ingest`, the inbox sensor, the desk's upload: ingest.importer and
ingest.reading hand it here) and follows the same rules: per billing month (its lines' BillingPeriodStart) one
transaction that replaces the file's own lines, the whole file checked first (the FOCUS gate's formats and required
values, and an InvoiceId on every line) or nothing written, errors naming file, row, column and value, the same
file again changing nothing, a closed or finalized month refusing it. import_files lists it (focus_version
`InvoiceDetail 1.4`, billed and list totals 0: it adds no charge). ingest/invoice_check.py compares it with the
month's cost rows per InvoiceId.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ocb_pipelines.core.billing_month import month_key
from ocb_pipelines.ingest.catalog import already_imported
from ocb_pipelines.ingest.focus import HeaderMapping, file_format, utc_timestamp_sql
from ocb_pipelines.ingest.gate import gate_rows, nul_failures
from ocb_pipelines.ingest.importer import FileImport
from ocb_pipelines.ingest.reading import (
    FileFacts,
    ImportRefused,
    explain_read_error,
    file_digest,
    quote_ident,
    reader_sql,
    text_projection,
)
from ocb_pipelines.ingest.schemas import GateFailure
from ocb_pipelines.warehouse import database as wh

INVOICE_VERSION = "InvoiceDetail 1.4"  # import_files.focus_version of an InvoiceDetail file
# The columns an InvoiceDetail file must have for us to compare it (FOCUS 1.4 InvoiceDetail, Mandatory ones).
REQUIRED_COLUMNS = ("InvoiceId", "InvoiceDetailId", "BilledCost", "BillingAccountId", "BillingCurrency",
                    "BillingPeriodStart", "BillingPeriodEnd")
# Columns stored as their own fields; any other column is kept as written in invoice_lines.columns (JSON).
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "InvoiceIssuerName", "ChargeCategory", "InvoiceIssueStatus", "PaymentCurrency")
_BY_LOWER = {c.lower(): c for c in KNOWN_COLUMNS}
_MARKERS = {"invoiceid", "invoicedetailid", "billedcost"}  # all present, and no ChargePeriodStart


def _header_names(path: Path) -> list[str] | None:
    """The header's column names (CSV, CSV.gz or Parquet), or None when it cannot be read cheaply."""
    try:
        fmt = file_format(path)
    except ValueError:
        return None
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        opener = gzip.open if fmt == "csv.gz" else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader([handle.readline(1 << 20)]), [])
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError):
        return None


def is_invoice_file(path: str | Path) -> bool:
    """Whether the file is a FOCUS InvoiceDetail file (its header: InvoiceId, InvoiceDetailId and BilledCost, and
    no ChargePeriodStart, which a cost-and-usage file always has; 1.4 cost files carry InvoiceDetailId too)."""
    path = Path(path)
    if not path.is_file():
        return False
    names = {n.strip().lower() for n in (_header_names(path) or [])}
    return names >= _MARKERS and "chargeperiodstart" not in names


def _mapping(path: Path, names: Sequence[str]) -> HeaderMapping:
    """The known columns by canonical name and the rest as extras; refused when a required one is missing or a
    column repeats."""
    focus: dict[str, str] = {}
    extra: dict[str, str] = {}
    seen: set[str] = set()
    for header in names:
        key = header.strip().lower()
        if key in seen:
            raise ImportRefused(path.name, f"an InvoiceDetail file: column {header!r} appears twice")
        seen.add(key)
        if key in _BY_LOWER:
            focus[_BY_LOWER[key]] = header
        else:
            extra[header.strip()] = header
    missing = [c for c in REQUIRED_COLUMNS if c not in focus]
    if missing:
        raise ImportRefused(path.name, f"an InvoiceDetail file, but the header lacks column(s) {', '.join(missing)}")
    return HeaderMapping(focus=focus, extra=extra, version=INVOICE_VERSION)


@dataclass(frozen=True)
class ParsedInvoices:
    """An InvoiceDetail file read into a temporary table (file_row_number, the known columns as text, x_columns,
    _billing_month), checked whole."""

    table: str
    file_format: str
    mapping: HeaderMapping
    lines: int
    months: tuple[str, ...]


def parse_invoices(con: duckdb.DuckDBPyConnection, path: Path, max_errors: int = 20) -> ParsedInvoices:
    """Read and check the whole file, or refuse it naming its bad rows (the caller drops the table)."""
    fmt = file_format(path)
    reader = reader_sql(path, fmt)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    except duckdb.Error as exc:
        raise explain_read_error(path.name, exc, path, fmt) from None
    types = {r[0]: r[1] for r in described}
    mapping = _mapping(path, list(types))
    table = f"invoice_parsed_{uuid.uuid4().hex}"
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT row_number() OVER () AS file_row_number, "
                    f"{text_projection(mapping, types, fmt)} FROM {reader}")
        lines = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        if not lines:
            raise ImportRefused(path.name, "the file has a header but no data rows")
        failures = gate_rows(con, table, mapping, max_errors) or nul_failures(con, table, mapping, max_errors)
        if not failures:
            failures = [GateFailure(row, "InvoiceId", None, "a value is required") for (row,) in con.execute(
                f'SELECT file_row_number FROM {table} WHERE "InvoiceId" IS NULL ORDER BY 1 LIMIT ?',
                [max_errors]).fetchall()]
        if failures:
            raise ImportRefused(path.name, "refused by the InvoiceDetail check; nothing was imported", failures)
        months = tuple(m for (m,) in con.execute(
            f"SELECT DISTINCT _billing_month FROM {table} WHERE _billing_month IS NOT NULL ORDER BY 1").fetchall())
        return ParsedInvoices(table, fmt, mapping, lines, months)
    except duckdb.Error as exc:
        drop_parsed(con, table)
        raise explain_read_error(path.name, exc, path, fmt) from None
    except ImportRefused:
        drop_parsed(con, table)
        raise


def drop_parsed(con: duckdb.DuckDBPyConnection, table: str) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def inspect_invoices(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> FileFacts:
    """An InvoiceDetail file's sha256, months and line count, as inspect_file gives a FOCUS file's (the whole
    file is checked: such files are small), with a note saying what it is."""
    own = con is None
    con = con or duckdb.connect()
    try:
        wh.configure(con)
        parsed = parse_invoices(con, path)
        invoices, currencies = con.execute(
            f'SELECT count(DISTINCT "InvoiceId"), string_agg(DISTINCT "BillingCurrency", \', \') FROM {parsed.table}'
        ).fetchall()[0]
        drop_parsed(con, parsed.table)
    finally:
        if own:
            con.close()
    note = (f"a FOCUS InvoiceDetail file: {parsed.lines:,} invoice line(s) of {invoices:,} invoice(s) ({currencies}); "
            "not billed: each invoice is compared with the month's charges of the same InvoiceId")
    return FileFacts(path=path, file_name=path.name, file_format=parsed.file_format, sha256=file_digest(path),
                     header=parsed.mapping, months=parsed.months, row_count=parsed.lines, notes=(note,))


def import_invoices(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    months: Sequence[str],
    source: str,
    run_id: str | None = None,
    actor: str | None = None,
    max_errors: int = 20,
) -> list[FileImport]:
    """Import an InvoiceDetail file's lines for the given months, each month replaced in one transaction, with
    importer.import_file's unchanged, duplicate and closed-month rules."""
    actor = actor or wh.current_actor()
    sha = file_digest(path, con)
    results: list[FileImport] = []
    for month in (month_key(m) for m in months):
        if found := already_imported(con, source, path.name, month, sha):
            results.append(FileImport(path.name, source, month, found[0], sha, INVOICE_VERSION, message=found[1]))
            continue
        results.append(_import_month(con, path, month, source, sha, run_id, actor, max_errors))
    return results


def _optional(mapping: HeaderMapping, column: str) -> str:
    return quote_ident(column) if column in mapping.focus else "NULL"


def _import_month(con: duckdb.DuckDBPyConnection, path: Path, month: str, source: str, sha: str,
                  run_id: str | None, actor: str, max_errors: int) -> FileImport:
    """One month of the file in one transaction: the file's earlier lines of the month out, these in."""
    import_id = uuid.uuid4().hex
    parsed: ParsedInvoices | None = None
    try:
        with wh.transaction(con):
            wh.ensure_period_open(con, month, actor, action=f"importing {path.name}")
            parsed = parse_invoices(con, path, max_errors)
            m = parsed.mapping
            con.execute("DELETE FROM invoice_lines WHERE source = ? AND file_name = ? AND billing_month = ?",
                        [source, path.name, month])
            con.execute("DELETE FROM import_files WHERE source = ? AND file_name = ? AND billing_month = ?",
                        [source, path.name, month])
            now = wh.now_utc()
            con.execute(f"""
                INSERT INTO invoice_lines BY NAME
                SELECT _billing_month AS billing_month, $source AS source, $file AS file_name, $sha AS file_sha256,
                    file_row_number, $import_id AS import_id, "InvoiceId" AS invoice_id,
                    {_optional(m, "InvoiceIssuerName")} AS invoice_issuer_name, "InvoiceDetailId" AS invoice_detail_id,
                    "BillingAccountId" AS billing_account_id, {_optional(m, "ChargeCategory")} AS charge_category,
                    {wh.money_from_text('"BilledCost"')} AS billed_cost, "BillingCurrency" AS billing_currency,
                    {utc_timestamp_sql('"BillingPeriodStart"')} AS billing_period_start,
                    {utc_timestamp_sql('"BillingPeriodEnd"')} AS billing_period_end,
                    {_optional(m, "InvoiceIssueStatus")} AS invoice_issue_status,
                    {_optional(m, "PaymentCurrency")} AS payment_currency, x_columns AS columns,
                    $now AS imported_at, $actor AS imported_by, $run_id AS run_id
                FROM {parsed.table} WHERE _billing_month = $month
            """, {"source": source, "file": path.name, "sha": sha, "import_id": import_id, "now": now,
                  "actor": actor, "run_id": run_id, "month": month})
            rows, invoices, billed = con.execute(
                "SELECT count(*), count(DISTINCT invoice_id), coalesce(sum(billed_cost), 0) FROM invoice_lines "
                "WHERE import_id = ?", [import_id]).fetchall()[0]
            if rows:
                con.execute("INSERT INTO import_files VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, 0, ?, ?, ?)",
                            [source, path.name, month, sha, str(path), parsed.file_format, INVOICE_VERSION, rows,
                             now, actor, run_id])
            status = "imported" if rows else "removed"
            wh.record_audit(con, actor=actor, action="import", period=month, run_id=run_id, subject=path.name,
                            details={"source": source, "sha256": sha, "rows": rows, "billed_total": 0,
                                     "status": status, "focus_version": INVOICE_VERSION, "import_id": import_id,
                                     "invoices": invoices, "invoiced_total": billed})
    except duckdb.Error as exc:
        raise explain_read_error(path.name, exc, path, parsed.file_format if parsed else None) from None
    finally:
        if parsed is not None:
            drop_parsed(con, parsed.table)
    message = (f"{invoices:,} invoice(s), {rows:,} invoice line(s): compared with the month's charges, not billed"
               if rows else "no invoice lines for this month any more; its old lines removed")
    return FileImport(path.name, source, month, status, sha, INVOICE_VERSION, rows, message=message)

