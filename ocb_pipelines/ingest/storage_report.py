"""A storage usage report (`date,path_or_project,bytes` or `date,path_or_project,TB`) as typed usage lines.

One usage line per report line: its day, the path or project as written (the account; pricing looks it up), and
the terabytes (bytes / 10^12, exactly, or the TB as written). The billing month is the month of the day. Pricing
(the pricing engine) takes each project's daily peak and the month's average; this module only reads.
"""

from __future__ import annotations

from ocb_pipelines.ingest.usage_sql import NUMBER_PATTERN, USAGE_NUMBER, problem_case, text_column

KIND = "storage-usage"
COLUMNS = ("date", "path_or_project")
AMOUNTS = ("bytes", "TB")  # one of them, not both


def rows_sql(reader: str, columns: dict[str, str]) -> str:
    """SQL over `reader`: one row per line with usage_rows' columns, `skip` (always NULL), and the line's first
    problem. `columns` maps date, path_or_project and bytes or TB to the file's column names. Nothing in it can
    fail: a value that does not read is NULL and named in `_problem`."""
    in_bytes = "bytes" in columns
    amount_column = "bytes" if in_bytes else "TB"
    amount_pattern = "[0-9]{1,26}" if in_bytes else NUMBER_PATTERN
    amount_hint = ("is not a whole number of bytes (0 or more)" if in_bytes
                   else "is not a number of terabytes of 0 or more (at most 12 decimals)")
    problems = [
        ("NOT regexp_full_match(coalesce(date_txt, ''), '[0-9]{4}-[0-9]{2}-[0-9]{2}') OR usage_date IS NULL",
         "date", "date_txt", "is not a date (YYYY-MM-DD)"),
        ("account IS NULL", "path_or_project", "account", "the path or project is empty"),
        (f"NOT regexp_full_match(coalesce(amount_txt, ''), '{amount_pattern}')", amount_column, "amount_txt",
         amount_hint),
    ]
    # A TB is 10^12 bytes: a whole number of bytes is a number of TB with 12 decimals, exactly.
    terabytes = (f"CAST(TRY_CAST(amount_txt AS DECIMAL(38, 0)) * CAST('0.000000000001' AS DECIMAL(13, 12)) "
                 f"AS {USAGE_NUMBER})" if in_bytes else f"TRY_CAST(amount_txt AS {USAGE_NUMBER})")
    return f"""
WITH raw AS (
    SELECT row_number() OVER () AS file_row_number,
        {text_column(columns['date'])} AS date_txt, {text_column(columns['path_or_project'])} AS account,
        {text_column(columns[amount_column])} AS amount_txt
    FROM {reader}
), checked AS (
    SELECT *, {problem_case(problems)} AS _problem
    FROM (SELECT *, TRY_CAST(date_txt AS DATE) AS usage_date FROM raw)
)
SELECT file_row_number, CAST(NULL AS VARCHAR) AS skip, 'storage_day' AS usage_kind, account,
    CAST(NULL AS VARCHAR) AS user_name, CAST(NULL AS VARCHAR) AS job_id, CAST(NULL AS VARCHAR) AS job_name,
    CAST(NULL AS VARCHAR) AS partition, CAST(NULL AS VARCHAR) AS cluster,
    CAST(NULL AS TIMESTAMP) AS started_at, CAST(NULL AS TIMESTAMP) AS ended_at,
    strftime(usage_date, '%Y-%m') AS billing_month,
    CAST(NULL AS {USAGE_NUMBER}) AS elapsed_hours, CAST(NULL AS {USAGE_NUMBER}) AS billing_units,
    CAST(NULL AS {USAGE_NUMBER}) AS cpus, CAST(NULL AS {USAGE_NUMBER}) AS gpus, CAST(NULL AS {USAGE_NUMBER}) AS mem_gb,
    usage_date, {terabytes} AS terabytes,
    _problem
FROM checked
"""
