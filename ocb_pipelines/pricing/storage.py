"""Storage usage reports as charges: one TB-month charge per project per report per month.

Per project per day the peak (a path reported several times a day counts once, at its highest; a project's paths
add up); the month's quantity is the average of those daily figures over the days REPORTED in the month, since a
missing day is a gap in monitoring, not an empty disk (the charge says "N of M days reported"). The quantity is
exact, rounded to MONEY's 12 places (half up) only where the average does not terminate.

The project of a report line: the accounts file's line whose account is path_or_project, else whose project_id is
it, else the same two lookups of the path's last component; unmapped, the last component names it (and the
charge goes to review for its missing attribution). The charge stands at the project's first line number and
lists every line it was computed from (x_ocb_lines).
"""

from __future__ import annotations

import calendar

import duckdb

from ocb_pipelines.pricing.rating import USAGE_TABLE
from ocb_pipelines.warehouse.database import MONEY


def load_storage(con: duckdb.DuckDBPyConnection, month: str) -> None:
    """The month's storage report lines (imports of focus_version storage-usage) as project-month charges."""
    con.execute(f"""
        INSERT INTO {USAGE_TABLE} BY NAME
        WITH lines AS (
            SELECT u.import_key, i.file_name, i.source, u.file_row_number, u.account AS path, u.usage_date,
                u.terabytes, nullif(regexp_extract(rtrim(u.account, '/'), '[^/]*$'), '') AS last_part
            FROM usage_rows u JOIN imports i ON i.import_key = u.import_key
            WHERE u.billing_month = $month AND i.focus_version = 'storage-usage'
        ),
        by_project AS (SELECT project_key, min(line) AS line FROM pricing_accounts GROUP BY project_key),
        mapped AS (
            SELECT l.*, coalesce(a1.line, p1.line, a2.line, p2.line) AS account_line
            FROM lines l
                LEFT JOIN pricing_accounts a1 ON a1.account_key = lower(l.path)
                LEFT JOIN by_project p1 ON p1.project_key = lower(l.path)
                LEFT JOIN pricing_accounts a2 ON a2.account_key = lower(l.last_part)
                LEFT JOIN by_project p2 ON p2.project_key = lower(l.last_part)
        ),
        owned AS (
            SELECT m.*, a.account, a.pi_email, a.project_id, a.fund_org, coalesce(a.group_key, '') AS group_key,
                coalesce(a.project_id, m.last_part, m.path) AS owner
            FROM mapped m LEFT JOIN pricing_accounts a ON a.line = m.account_line
        ),
        daily AS (
            SELECT import_key, owner, usage_date, sum(peak) AS terabytes
            FROM (SELECT import_key, owner, path, usage_date, max(terabytes) AS peak FROM owned GROUP BY ALL)
            GROUP BY ALL
        ),
        monthly AS (
            SELECT import_key, owner, count(*) AS days,
                CAST(sum(terabytes) * 1000000000000 AS HUGEINT) AS scaled_total
            FROM daily GROUP BY ALL
        ),
        projects AS (
            SELECT import_key, owner, any_value(file_name) AS file_name, any_value(source) AS source,
                min(file_row_number) AS file_row_number, arg_min(path, file_row_number) AS path,
                arg_min(account, file_row_number) AS account, arg_min(pi_email, file_row_number) AS pi_email,
                arg_min(project_id, file_row_number) AS project_id, arg_min(fund_org, file_row_number) AS fund_org,
                arg_min(group_key, file_row_number) AS group_key,
                list(file_row_number ORDER BY file_row_number) AS lines
            FROM owned GROUP BY import_key, owner
        )
        SELECT p.import_key, p.file_row_number, p.file_name, p.source, 'storage' AS kind,
            coalesce(p.account, p.path) AS account, p.pi_email, p.project_id, p.fund_org, p.group_key,
            'Storage' AS service_name, 'Storage' AS service_category, p.path AS resource_id,
            p.owner AS resource_name, 'Storage' AS resource_type,
            'Storage ' || p.owner || ': average of daily peaks, ' || m.days || ' of ' || $days || ' days reported'
                AS description,
            CAST($start AS TIMESTAMP) AS charge_start, CAST($end AS TIMESTAMP) AS charge_end,
            CAST($end AS TIMESTAMP) AS order_at, CAST($last_day AS DATE) AS rate_date,
            CAST(CAST((2 * m.scaled_total + m.days) // (2 * m.days) AS DECIMAL(38, 0))
                 * CAST('0.000000000001' AS {MONEY}) AS {MONEY}) AS stored_tb,
            ',"x_ocb_days_reported":' || m.days || ',"x_ocb_days_in_month":' || $days
                || ',"x_ocb_lines":' || to_json(p.lines) AS x_extra
        FROM projects p JOIN monthly m USING (import_key, owner)
    """, _month_bounds(month))


def _month_bounds(month: str) -> dict:
    year, mon = int(month[:4]), int(month[5:])
    days = calendar.monthrange(year, mon)[1]
    return {"month": month, "days": days, "start": f"{month}-01", "last_day": f"{month}-{days:02d}",
            "end": f"{year + (mon == 12)}-{mon % 12 + 1:02d}-01"}
