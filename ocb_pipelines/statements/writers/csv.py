"""The CSV statement: every line of the statement, exact money, text cells neutralised (no cell runs as a
formula), UTF-8 with a BOM so spreadsheets read it correctly. A line that adjusts an earlier month (late data,
statements/adjustments.py) names its origin month, file, row, the charge it corrects and the kind of change in the
last columns; they are empty on the other lines. (The 6-month history is on the PDF only: a CSV holds one table.)"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from ocb_pipelines.statements.lines import LINE_COLUMNS, Statement, effective_list
from ocb_pipelines.statements.writers.base import Page, StatementWriter

TEXT_COLUMNS = {c for c in LINE_COLUMNS if c not in ("pricing_quantity", "list_cost", "billed_cost",
                                                     "file_row_number")}
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
ADJUSTMENT_COLUMNS = ("adjusts_month", "origin_file", "origin_row", "corrects_charge_id", "adjustment_kind")


def neutralise(text: object) -> str:
    """A text cell a spreadsheet will not run as a formula (same rule as review sheets)."""
    value = "" if text is None else str(text)
    return "'" + value if value.startswith(FORMULA_CHARS) else value


def decimal_text(value: Decimal | None) -> str:
    """Exact, without trailing zeros (money stays exact in the CSV: no rounding, no float)."""
    return "" if value is None else format(value.normalize(), "f")


def statement_csv_bytes(statement: Statement) -> bytes:
    """Every line of the statement (csv module; text cells neutralised so no cell runs as a formula)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["billing_month", "pi_email", "project_id", *LINE_COLUMNS, "list_price_used", "discount",
                     *ADJUSTMENT_COLUMNS])
    origins = {a.charge_id: a.origin for a in statement.adjustments}
    for line in statement.lines:
        listed = effective_list(line["list_cost"], line["billed_cost"])
        out: list[str] = [statement.billing_month, neutralise(statement.pi_email or ""),
                          neutralise(statement.project_id)]
        for column in LINE_COLUMNS:
            value = line[column]
            if column in TEXT_COLUMNS:
                text = value.isoformat(sep=" ") if isinstance(value, datetime) else ("" if value is None else value)
                out.append(neutralise(text))
            elif isinstance(value, Decimal):
                out.append(decimal_text(value))
            else:
                out.append("" if value is None else str(value))
        out += [decimal_text(listed), decimal_text(listed - line["billed_cost"])]
        origin = origins.get(line["charge_id"])
        if origin is None:
            out += [""] * len(ADJUSTMENT_COLUMNS)
        else:
            out += [neutralise(origin.origin_month), neutralise(origin.origin_file), str(origin.origin_row),
                    neutralise(origin.corrects_charge_id), neutralise(origin.kind)]
        writer.writerow(out)
    return buffer.getvalue().encode("utf-8-sig")  # BOM: spreadsheets then read UTF-8 correctly


def write(statement: Statement, page: Page) -> bytes:
    return statement_csv_bytes(statement)


WRITER = StatementWriter(name="csv", suffix=".csv", mime="text/csv", write=write)
