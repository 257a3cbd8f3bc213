"""Late data for a closed month: how long a corrected file takes to be kept apart and booked as adjustments.

    python benchmarks/late_benchmark.py --rows 1000000 --changed-share 0.01

A month of `--rows` generated FOCUS rows is imported, validated and closed; then a corrected version of the same
file (the same name; `--changed-share` of its rows with another BilledCost) is imported. It is late data: kept
against the closed month, its difference booked as adjustment lines in the next open month (ingest/late.py).
Prints the plain import, the late import (read, gate, compare per charge, book) and the booked month's
validation, in seconds, with the adjustment lines booked. The same machine's plain import is the yardstick.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tools/ is not installed: import the generator from the tree

from ocb_pipelines.charges.attribution import AttributionRules  # noqa: E402
from ocb_pipelines.charges.validate import build_validated  # noqa: E402
from ocb_pipelines.ingest.importer import import_file  # noqa: E402
from ocb_pipelines.warehouse import database as wh  # noqa: E402
from tools.sample_data.generator import generate_focus_file  # noqa: E402

MONTH, NEXT = "2025-01", "2025-02"
RULES = AttributionRules(tag_keys={"pi_email": "pi_email", "project_id": "project_id", "fund_org": "fund_org"})


def _corrected(original: Path, out: Path, share: float, rows: int) -> int:
    """The same file with every 1/share-th row's BilledCost raised by 1.25; the rows changed."""
    import duckdb

    step = max(round(1 / share), 1)
    with duckdb.connect() as con:
        con.execute(f"""COPY (SELECT * EXCLUDE (n) REPLACE (CASE WHEN n % {step} = 0
                                 THEN CAST(CAST("BilledCost" AS DECIMAL(38, 12)) + 1.25 AS VARCHAR)
                                 ELSE "BilledCost" END AS "BilledCost")
                             FROM (SELECT *, row_number() OVER () AS n
                                   FROM read_csv('{original}', all_varchar = true, header = true)))
                        TO '{out}' (HEADER, DELIMITER ',')""")
    return rows // step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed-share", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        original = generate_focus_file(folder / "aws_2025-01.csv", source="aws", months=[MONTH], rows=args.rows,
                                       seed=7)
        corrected_dir = folder / "corrected"
        corrected_dir.mkdir()
        corrected = corrected_dir / "aws_2025-01.csv"
        changed = _corrected(original, corrected, args.changed_share, args.rows)
        with wh.connect(folder / "warehouse.duckdb") as con:
            start = time.perf_counter()
            import_file(con, original, months=[MONTH], source="aws")
            plain = time.perf_counter() - start
            build_validated(con, MONTH, RULES)
            con.execute("UPDATE billing_periods SET status = 'closed' WHERE period = ?", [MONTH])
            start = time.perf_counter()
            (result,) = import_file(con, corrected, months=[MONTH], source="aws")
            late = time.perf_counter() - start
            start = time.perf_counter()
            build_validated(con, NEXT, RULES)
            validate = time.perf_counter() - start
            lines, billed = con.execute("SELECT count(*), sum(billed_delta) FROM adjustment_lines").fetchall()[0]
    print(f"rows {args.rows:,}, rows changed {changed:,}")
    print(f"plain import of the month:        {plain:7.1f} s")
    print(f"late import (kept, compared, booked): {late:7.1f} s  ({late / plain:.2f}x), status {result.status}")
    print(f"validation of the booked month:   {validate:7.1f} s")
    print(f"adjustment lines booked in {NEXT}: {lines:,}, {billed} in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
