"""The Pandera gate in front of the priced rows' write: nonsense priced by bad inputs is refused, naming the line."""

from __future__ import annotations

import duckdb

from ocb_pipelines.pricing.focus_out import CHARGES_TABLE, create_charges_table
from ocb_pipelines.pricing.schemas import gate_priced


def _charges(rows) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_charges_table(con)
    con.executemany(f"INSERT INTO {CHARGES_TABLE} (import_key, file_row_number, file_name, kind, pricing_quantity, "
                    "list_cost, billed_cost) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return con


def test_good_priced_charges_pass():
    con = _charges([(1, 2, "hpc.sacct", "usage", "10", "5.00", "4.00"), (2, 2, "fees.csv", "fee", "1", "250", "250"),
                    (3, 1, "pricing.subsidies", "credit", None, "0", "-3.40")])
    assert gate_priced(con, [CHARGES_TABLE]) == []


def test_nonsense_is_refused_naming_file_and_line():
    con = _charges([(1, 2, "hpc.sacct", "usage", "10", "5.00", "6.00"),  # billed above list
                    (1, 3, "hpc.sacct", "usage", "-1", "0", "0"),  # negative quantity
                    (3, 1, "pricing.subsidies", "credit", None, "0", "2.00"),  # a credit that charges
                    (1, 4, "hpc.sacct", "usage", "1", "1", "1"), (1, 4, "hpc.sacct", "usage", "1", "1", "1")])
    problems = "\n".join(gate_priced(con, [CHARGES_TABLE]))
    assert "hpc.sacct line 2" in problems and "must bill between 0 and its list price" in problems
    assert "hpc.sacct line 3" in problems and "pricing_quantity" in problems
    assert "pricing.subsidies line 1" in problems and "a credit line must bill less than 0" in problems
    assert "hpc.sacct line 4: priced twice" in problems
