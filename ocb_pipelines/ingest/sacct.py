"""Slurm's `sacct --parsable2` output as typed usage lines, in one DuckDB query (no per-line Python).

The query reads every line (pipe-separated text), numbers it as the FOCUS import numbers rows (1 = the first line
after the header), and gives each: whether it is skipped (a step line: its JobID holds a `.`, the allocation line
is the job; or an unfinished job: End `Unknown`/`None`/empty), the job's times in UTC (sacct writes the cluster's
local time), its billing month (the month of the UTC End), its elapsed hours and the billing, cpu, gpu and memory
of its AllocTRES, exactly; and the first problem of a line that cannot be read (`_column`, `_value`, `_problem`),
which refuses the file.
"""

from __future__ import annotations

from ocb_pipelines.ingest.usage_sql import (
    NUMBER_PATTERN,
    USAGE_NUMBER,
    exact_ratio,
    micro_units,
    problem_case,
    sql_text,
    text_column,
)

KIND = "slurm-sacct"
REQUIRED = ("JobID", "Account", "End", "AllocTRES")
OPTIONAL = ("JobName", "User", "Partition", "Cluster", "Start", "Elapsed", "ElapsedRaw", "State")
NOT_STARTED = ("UNKNOWN", "NONE")  # what sacct writes for a time that has not happened
TIME_HINT = "is not a date and time (YYYY-MM-DDTHH:MM:SS, or Unknown / None)"
# Slurm writes memory with a K, M, G, T or P suffix; a bare number is megabytes. Factors to KiB; GB = 1024 MB.
MEMORY_KIB = {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3, "P": 1024**4}


def _tres_value(name_pattern: str) -> str:
    """SQL: the text of one `name=value` item of AllocTRES (NULL when absent or empty)."""
    return f"nullif(regexp_extract(coalesce(tres, ''), '(?:^|,){name_pattern}=([^,]*)', 1), '')"


def _local_to_utc(local: str, timezone: str) -> str:
    """SQL: a local wall-clock TIMESTAMP of `timezone` as the UTC TIMESTAMP (DuckDB's ICU time zones)."""
    if timezone == "UTC":
        return local
    return f"timezone('UTC', timezone({sql_text(timezone)}, {local}))"


def rows_sql(reader: str, columns: dict[str, str], timezone: str) -> str:
    """SQL over `reader` (the file's read_csv): one row per line with usage_rows' columns, `skip`, and the line's
    first problem. `columns` maps the canonical names above to the file's column names."""

    def col(name: str) -> str:
        return text_column(columns.get(name))

    multiplier = " ".join(f"WHEN '{unit}' THEN {kib}" for unit, kib in MEMORY_KIB.items())
    def number_check(value: str) -> str:
        return f"regexp_full_match({value}, '{NUMBER_PATTERN}')"

    def bad_number(value: str) -> str:
        return f"({value} IS NOT NULL AND NOT {number_check(value)})"

    problems = [
        ("job_id IS NULL", "JobID", "job_id", "the job id is empty"),
        ("start_txt IS NOT NULL AND upper(start_txt) NOT IN ('UNKNOWN', 'NONE') AND start_local IS NULL",
         "Start", "start_txt", TIME_HINT),
        ("NOT unfinished AND end_local IS NULL", "End", "end_txt", TIME_HINT),
        ("elapsed_raw IS NOT NULL AND NOT regexp_full_match(elapsed_raw, '[0-9]{1,12}')", "ElapsedRaw",
         "elapsed_raw", "is not a whole number of seconds (0 or more)"),
        ("tres IS NOT NULL AND NOT regexp_full_match(tres, '[^=,]+=[^=,]*(,[^=,]+=[^=,]*)*')", "AllocTRES", "tres",
         "is not a list of name=value items separated by commas"),
        (bad_number("billing_txt"), "AllocTRES", "tres", "its billing value is not a number of 0 or more"),
        (bad_number("cpu_txt"), "AllocTRES", "tres", "its cpu value is not a number of 0 or more"),
        (bad_number("gpu_txt"), "AllocTRES", "tres", "its gres/gpu value is not a number of 0 or more"),
        (f"NOT list_bool_and(list_transform(gpu_typed, lambda x: {number_check('x')}))", "AllocTRES", "tres",
         "a gres/gpu:<type> value is not a number of 0 or more"),
        ("mem_txt IS NOT NULL AND NOT regexp_full_match(mem_txt, '[0-9]{1,12}(\\.[0-9]{1,12})?[KMGTP]?')",
         "AllocTRES", "tres", "its mem value is not an amount of memory (a number with K, M, G, T or P)"),
        ("NOT unfinished AND end_local < start_local", "End", "end_txt", "is before the job's Start"),
    ]
    gpu_typed_sum = f"list_sum(list_transform(gpu_typed, lambda x: TRY_CAST(x AS {USAGE_NUMBER})))"
    # KiB in units of 10^-12 (exact integers), then GB rounded at 12 places: no float, no overflow.
    mem_number = "regexp_extract(mem_txt, '^([0-9.]+)', 1)"
    mem_kib = (f"{micro_units(mem_number)} * "
               f"CASE regexp_extract(mem_txt, '([KMGTP]?)$', 1) {multiplier} ELSE {MEMORY_KIB['M']} END")
    return f"""
WITH raw AS (
    SELECT row_number() OVER () AS file_row_number,
        {col('JobID')} AS job_id, {col('Account')} AS account, {col('User')} AS user_name,
        {col('JobName')} AS job_name, {col('Partition')} AS partition, {col('Cluster')} AS cluster,
        {col('Start')} AS start_txt, {col('End')} AS end_txt, {col('ElapsedRaw')} AS elapsed_raw,
        {col('AllocTRES')} AS tres
    FROM {reader}
), typed AS (
    SELECT *,
        contains(coalesce(job_id, ''), '.') AS is_step,
        end_txt IS NULL OR upper(end_txt) IN {NOT_STARTED} AS unfinished,
        CASE WHEN upper(coalesce(start_txt, 'NONE')) IN {NOT_STARTED} THEN NULL
             ELSE TRY_CAST(start_txt AS TIMESTAMP) END AS start_local,
        CASE WHEN unfinished THEN NULL ELSE TRY_CAST(end_txt AS TIMESTAMP) END AS end_local,
        {_tres_value('billing')} AS billing_txt,
        {_tres_value('cpu')} AS cpu_txt,
        {_tres_value('gres/gpu')} AS gpu_txt,
        regexp_extract_all(coalesce(tres, ''), '(?:^|,)gres/gpu:[^=,]+=([^,]*)', 1) AS gpu_typed,
        {_tres_value('mem')} AS mem_txt
    FROM raw
), checked AS (
    SELECT *, {problem_case(problems)} AS _problem
    FROM typed
)
SELECT file_row_number,
    CASE WHEN _problem IS NOT NULL THEN NULL WHEN is_step THEN 'step' WHEN unfinished THEN 'unfinished' END AS skip,
    'slurm_job' AS usage_kind, account, user_name, job_id, job_name, partition, cluster,
    started_at, ended_at, strftime(ended_at, '%Y-%m') AS billing_month,
    {exact_ratio('CAST(seconds AS HUGEINT) * 1000000000000', 3600)} AS elapsed_hours,
    TRY_CAST(billing_txt AS {USAGE_NUMBER}) AS billing_units,
    TRY_CAST(cpu_txt AS {USAGE_NUMBER}) AS cpus,
    -- Slurm lists a typed GPU both as gres/gpu:<type>=N and in the total gres/gpu=N: the total when it is there,
    -- else the typed counts summed (a site that tracks only typed GPUs).
    coalesce(TRY_CAST(gpu_txt AS {USAGE_NUMBER}), {gpu_typed_sum}) AS gpus,
    CASE WHEN _problem IS NULL THEN {exact_ratio(mem_kib, MEMORY_KIB['G'])} END AS mem_gb,
    CAST(NULL AS DATE) AS usage_date, CAST(NULL AS {USAGE_NUMBER}) AS terabytes,
    _problem
FROM (
    SELECT *,
        CASE WHEN _problem IS NULL AND NOT unfinished AND NOT is_step THEN
            CASE WHEN elapsed_raw IS NOT NULL THEN CAST(elapsed_raw AS BIGINT)
                 WHEN started_at IS NOT NULL THEN date_diff('second', started_at, ended_at)
                 ELSE 0 END  -- a job that never started (cancelled while pending) ran no time
        END AS seconds
    FROM (
        SELECT *,
            CASE WHEN _problem IS NULL THEN {_local_to_utc('start_local', timezone)} END AS started_at,
            CASE WHEN _problem IS NULL THEN {_local_to_utc('end_local', timezone)} END AS ended_at
        FROM checked
    )
)
"""
