"""Three billed months with a gap and late adjustments, for the history and adjustments tests.

  2025-01  pi.one/proj-a  vm-a 80.00 (list 100.00), bucket 20.00 (no list price)
           pi.two/proj-b  hpc-1 0.00 (list 800.00: a 100% subsidy)
  2025-02  pi.one/proj-a  vm-a 90.00 (list 100.00)                  pi.two/proj-b: no charges (a gap)
  2025-03  pi.one/proj-a  vm-a 70.00 (list 100.00), and three adjustment lines from a late file:
                          +12.50 correcting 2025-01 row 1, -5.00 removing 2025-01 row 2, +3.00 new for 2025-02
           pi.two/proj-b  hpc-1 10.00 (list 50.00)

The adjustment lines are ordinary charges of 2025-03 (their own import), each with an `adjustment_lines` row as the
late-data import books it (the table is created here with the design's DDL when the warehouse does not have it).
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.periods.lifecycle import close_period
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

LATE_FILE = "aws_2025-01_restated.csv"
ADJUSTMENT_LINES_DDL = """
CREATE TABLE IF NOT EXISTS adjustment_lines (
    booked_month VARCHAR NOT NULL, source VARCHAR NOT NULL, file_name VARCHAR NOT NULL,
    file_row_number BIGINT NOT NULL, origin_month VARCHAR NOT NULL, origin_file VARCHAR NOT NULL,
    origin_row BIGINT NOT NULL, corrects_charge_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    billed_delta DECIMAL(38, 10) NOT NULL, list_delta DECIMAL(38, 10) NOT NULL, late_import_id VARCHAR NOT NULL
)
"""
# (billed, list, origin month, origin row, kind) of each adjustment line, in the late file's row order
ADJUSTMENTS = [("12.50", "12.50", "2025-01", 1, "changed"), ("-5.00", "-5.00", "2025-01", 2, "removed"),
               ("3.00", "3.00", "2025-02", 4, "new")]


def rows_2025_01() -> list[dict[str, str]]:
    return [charge_row("2025-01", resource="vm-a", billed="80.00", ListCost="100.00"),
            charge_row("2025-01", resource="bucket", billed="20.00", ListCost="", service="Cloud Storage"),
            charge_row("2025-01", resource="hpc-1", billed="0.00", ListCost="800.00", service="HPC Cluster",
                       pi_email="pi.two@example.edu", project_id="proj-b")]


def rows_2025_02() -> list[dict[str, str]]:
    return [charge_row("2025-02", resource="vm-a", billed="90.00", ListCost="100.00")]


def rows_2025_03() -> list[dict[str, str]]:
    return [charge_row("2025-03", resource="vm-a", billed="70.00", ListCost="100.00"),
            charge_row("2025-03", resource="hpc-1", billed="10.00", ListCost="50.00", service="HPC Cluster",
                       pi_email="pi.two@example.edu", project_id="proj-b")]


def late_rows() -> list[dict[str, str]]:
    """The adjustment lines as FOCUS rows of 2025-03 (charge period of the origin month, ChargeClass Correction)."""
    out = []
    for billed, listed, origin, _row, _kind in ADJUSTMENTS:
        row = charge_row("2025-03", resource="vm-a" if origin == "2025-01" else "vm-b", billed=billed,
                         ListCost=listed, ChargePeriodStart=f"{origin}-01T00:00:00Z",
                         ChargePeriodEnd=f"{origin}-02T00:00:00Z")
        out.append(row)
    return out


def build_month(con: duckdb.DuckDBPyConnection, settings: OcbSettings, month: str,
                files: dict[str, list[dict[str, str]]], *, close: bool = True) -> None:
    for name, rows in files.items():
        path = write_focus_csv(settings.inbox_dir / name, rows)
        import_file(con, path, months=[month], source="aws")
    build_validated(con, month, rules_from(settings))
    build_approved(con, month)
    if close:
        close_period(con, month, "tester")


def book_adjustments(con: duckdb.DuckDBPyConnection, month: str = "2025-03") -> list[str]:
    """One adjustment_lines row per line of the late file in `month`; returns the charge ids it corrects."""
    con.execute(ADJUSTMENT_LINES_DDL)
    lines = con.execute("SELECT source, file_name, file_row_number FROM charges_approved WHERE billing_month = ? "
                        "AND file_name = ? ORDER BY file_row_number", [month, LATE_FILE]).fetchall()
    # The warehouse's table (warehouse/schema/adjustments.py) may hold more deltas than the design's: EffectiveCost's.
    effective = bool(con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                                 "'adjustment_lines' AND column_name = 'effective_delta'").fetchall()[0][0])
    corrects = []
    for (source, file_name, row), (billed, listed, origin, origin_row, kind) in zip(lines, ADJUSTMENTS,
                                                                                   strict=True):
        found = con.execute("SELECT charge_id FROM charges_approved WHERE billing_month = ? AND file_row_number = ?",
                            [origin, origin_row]).fetchall()
        charge = found[0][0] if found else f"new-in-{origin}-row-{origin_row}"  # a new row: no charge there yet
        corrects.append(charge)
        values = {"booked_month": month, "source": source, "file_name": file_name, "file_row_number": row,
                  "origin_month": origin, "origin_file": f"aws_{origin}.csv", "origin_row": origin_row,
                  "corrects_charge_id": charge, "kind": kind, "billed_delta": Decimal(billed),
                  "list_delta": Decimal(listed), "late_import_id": "late-1"}
        if effective:
            values["effective_delta"] = Decimal(billed)
        con.execute(f"INSERT INTO adjustment_lines ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                    list(values.values()))
    return corrects


def build_three_months(settings: OcbSettings, *, adjustments: bool = True) -> None:
    with wh.connect(settings.warehouse_path) as con:
        build_month(con, settings, "2025-01", {"aws_2025-01.csv": rows_2025_01()})
        build_month(con, settings, "2025-02", {"aws_2025-02.csv": rows_2025_02()})
        files = {"aws_2025-03.csv": rows_2025_03()}
        if adjustments:
            files[LATE_FILE] = late_rows()
        build_month(con, settings, "2025-03", files, close=False)
        if adjustments:
            book_adjustments(con)
        close_period(con, "2025-03", "tester")
