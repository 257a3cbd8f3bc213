"""One PI's charges of a month counted by project and review status, summed inside DuckDB (no Dagster).

A busy PI has tens of thousands of lines in a month: the desk's PI page and `ocb show` read these sums, not every
charge's state (a row per line in Python took 2 s for a PI of 71,711 lines).
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from ocb_pipelines.review.state import queue_conditions, state_relation_sql


def counts_by_project(con: duckdb.DuckDBPyConnection, month: str, *, pi: str,
                      no_project: str) -> list[tuple[str, str, int, Decimal]]:
    """(project, review status, charges, billed money) of one PI's charges in the month: the PI and project a
    correction gave (as the queue's `pi` filter matches them), `no_project` for a charge without one."""
    where, params = queue_conditions(pi=pi, statuses=None)
    return [(project, status, int(count), Decimal(billed)) for project, status, count, billed in con.execute(
        f"""SELECT coalesce(nullif(new_project_id, ''), nullif(project_id, ''), $no_project) AS project,
                   review_status, count(*), sum(billed_cost)
            FROM ({state_relation_sql(where)}) GROUP BY ALL ORDER BY ALL""",
        {"month": month, "no_project": no_project, **params}).fetchall()]
