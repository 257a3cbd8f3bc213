"""The FOCUS gate over a file's stored rows: the structure schema, then NUL characters; first failures named.

Runs inside the import's transaction on the rows just inserted under the new import key, so a refusal rolls the
whole file back (ARCHITECTURE: a Pandera failure stops the step before anything of the file stays).
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.core.gates import validate_in_chunks
from ocb_pipelines.ingest.focus import DATETIME_COLUMNS, HeaderMapping, utc_timestamp_sql
from ocb_pipelines.ingest.reading import quote_ident
from ocb_pipelines.ingest.schemas import ROW_INDEX, GateFailure, failures_from, focus_structure_schema

# Tags JSON that spells NUL as an escape (a \u0000 not itself escaped by a backslash).
_JSON_NUL = r"'(^|[^\\])(\\\\)*\\u0000'"


def nul_failures(con: duckdb.DuckDBPyConnection, relation: str, mapping: HeaderMapping,
                 limit: int, *, raw_nul_possible: bool = True) -> list[GateFailure]:
    """Text with a NUL character is refused (row, column, value): NUL is never part of a billing value, and
    it cannot pass safely into file names, PDFs, emails or spreadsheets. Without `raw_nul_possible` (the
    file has no NUL byte) only the Tags JSON's escaped form, \\u0000, is looked for."""
    columns = [c for c in mapping.focus]
    def escaped(column: str) -> str:  # JSON text (Tags, the extras) spells a NUL as \u0000
        return f"(contains({column}, '\\u0000') AND regexp_matches({column}, {_JSON_NUL}))"

    tests = []
    if raw_nul_possible:
        tests = [f"contains({quote_ident(c)}, chr(0))" for c in columns] + [escaped("x_columns")]
    if "Tags" in columns:
        tests.append(escaped('"Tags"'))
    if not tests:
        return []
    picked = ", ".join([ROW_INDEX, *(quote_ident(c) for c in columns), "CAST(x_columns AS VARCHAR)"])
    rows = con.execute(
        f"SELECT {picked} FROM {relation} WHERE {' OR '.join(tests)} ORDER BY {ROW_INDEX} LIMIT {int(limit)}"
    ).fetchall()
    failures = []
    problem = "holds a NUL character, which is never part of a billing value; remove it and re-export the file"
    for row_number, *values in rows:
        for column, value in zip([*columns, "x_ columns"], values, strict=True):
            if not isinstance(value, str):
                continue
            if "\x00" in value or (column in ("Tags", "x_ columns") and "\\u0000" in value):
                failures.append(GateFailure(row_number, column, value, problem))
    return failures[:limit]


def gate_rows(
    con: duckdb.DuckDBPyConnection, relation: str, mapping: HeaderMapping, limit: int, *, in_file_order: bool = True
) -> list[GateFailure]:
    """Run the FOCUS structure schema over every row of `relation` (a table or a filtered subquery with a
    file_row_number column), chunk by chunk; return the first failures in file order. Rows not stored in file
    order (`in_file_order=False`) are all checked, so the first failures found are the file's first ones."""
    schema = focus_structure_schema(list(mapping.focus))
    columns = [c for c in schema.columns if c in mapping.focus]
    select = [ROW_INDEX] + [quote_ident(c) for c in columns]
    for column in DATETIME_COLUMNS:
        if column in columns:
            select.append(f"{utc_timestamp_sql(quote_ident(column))} AS \"{column}__ts\"")
    failures = validate_in_chunks(
        con, f"SELECT {', '.join(select)} FROM {relation}", schema, failures_from,
        limit=limit, index=ROW_INDEX, stop_at_limit=in_file_order,
    )
    return sorted(failures, key=lambda f: (f.row if f.row is not None else -1, f.column or ""))[:limit]
