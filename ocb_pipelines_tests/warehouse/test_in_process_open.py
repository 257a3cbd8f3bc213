"""A read-write open waits out this process's own short read-only look at the warehouse.

The desk serves pages while its worker thread starts Dagster runs, and loading the definitions for a run takes a
read-only look at the warehouse (services/calendar.py). DuckDB refuses a read-write connection to a file this
process has open read-only ("different configuration"): a page opened at that moment answered 500.
"""

from __future__ import annotations

import threading

from ocb_pipelines.warehouse.connection import connect, read_only


def test_a_read_write_open_waits_for_the_read_only_look_of_this_process(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with connect(path):
        pass
    with read_only(path) as look:
        closer = threading.Timer(0.3, look.close)
        closer.start()
        try:
            with connect(path, lock_wait=0) as con:  # the desk's pages never wait for another process
                assert con.execute("SELECT 42").fetchone() == (42,)
        finally:
            closer.join()
