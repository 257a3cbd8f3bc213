"""A consistent backup of the DuckDB warehouse: EXPORT DATABASE to a dated folder of Parquet files.

    python docs/examples/backup_warehouse.py /srv/ocb/data/warehouse.duckdb /backup/ocb

DuckDB lets one process write a file at a time, so this waits (with backoff, up to $OCB_LOCK_WAIT_SECONDS,
default 60) while a run holds the warehouse; once connected, nothing else can write until the export is done,
so the copy is consistent. Restore into a NEW file with:

    python -c "import duckdb; duckdb.connect('restored.duckdb').execute(\"IMPORT DATABASE '/backup/ocb/<stamp>'\")"
"""

import sys
from datetime import UTC, datetime
from pathlib import Path

from ocb_pipelines.warehouse.database import open_connection


def backup(warehouse: str | Path, root: str | Path) -> Path:
    target = Path(root) / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target.parent.mkdir(parents=True, exist_ok=True)
    con = open_connection(warehouse)  # retries while another process holds the write lock
    try:
        con.execute("CHECKPOINT")
        quoted = str(target).replace("'", "''")
        con.execute(f"EXPORT DATABASE '{quoted}' (FORMAT parquet)")
    finally:
        con.close()
    return target


if __name__ == "__main__":
    print(backup(sys.argv[1], sys.argv[2]))
