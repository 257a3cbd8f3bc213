"""Slurm's `sacct --parsable2` output as typed usage lines, in one DuckDB query (no per-line Python).

The query reads every line (pipe-separated text), numbers it as the FOCUS import numbers rows (1 = the first line
after the header), and gives each: whether it is skipped (a step line: its JobID holds a `.`, the allocation line
is the job; or an unfinished job: End `Unknown`/`None`/empty), the job's times in UTC (sacct writes the cluster's
local time), its billing month (the month of the UTC End), its elapsed hours and the billing, cpu, gpu and memory
of its AllocTRES, exactly; and the first problem of a line that cannot be read (`_column`, `_value`, `_problem`),
which refuses the file.
"""

from __future__ import annotations

from ocb_pipelines.ingest.usage_sql import NUMBER_PATTERN, USAGE_NUMBER, problem_case, sql_text, text_column

KIND = "slurm-sacct"
REQUIRED = ("JobID", "Account", "End", "AllocTRES")
OPTIONAL = ("JobName", "User", "Partition", "Cluster", "Start", "Elapsed", "ElapsedRaw", "State")
NOT_STARTED = ("UNKNOWN", "NONE")  # what sacct writes for a time that has not happened
TIME_HINT = "is not a date and time (YYYY-MM-DDTHH:MM:SS, or Unknown / None)"
# Slurm writes memory with a K, M, G, T or P suffix, a bare number being megabytes; GB = 1024 MB. The factors are
# exact decimals, the number has at most 6 decimals: the product is exact before it is rounded at 12 places.
MEMORY_GB = {"K": "0.00000095367431640625", "M": "0.0009765625", "G": "1", "T": "1024", "P": "1048576"}
MEMORY_PATTERN = "[0-9]{1,12}(\\.[0-9]{1,6})?[KMGTP]?"


def _tres_value(name: str) -> str:
    """SQL: the text after `name=` in AllocTRES's items (NULL when absent or empty)."""
    return f"nullif(substr(list_filter(items, lambda x: starts_with(x, '{name}='))[1], {len(name) + 2}), '')"


def _local_to_utc(local: str, timezone: str) -> str:
    """SQL: a local wall-clock TIMESTAMP of `timezone` as the UTC TIMESTAMP (DuckDB's ICU time zones)."""
    if timezone == "UTC":
        return local
    return f"timezone('UTC', timezone({sql_text(timezone)}, {local}))"


def _hours(seconds: str) -> str:
    """SQL: whole seconds (BIGINT) as hours, DECIMAL(38, 12) rounded half up (in 64-bit integers: fast, exact)."""
    return (f"(CAST({seconds} // 3600 AS {USAGE_NUMBER}) + CAST((({seconds} % 3600) * 1000000000000 + 1800) // 3600 "
            f"AS DECIMAL(38, 0)) * CAST('0.000000000001' AS DECIMAL(13, 12)))")


def _decimal(literal: str) -> str:
    """SQL: an exact decimal constant, typed no wider than it is (so a product keeps room for its digits)."""
    scale = len(literal.partition(".")[2])
    return f"CAST('{literal}' AS DECIMAL({max(len(literal.replace('.', '')), scale + 1)}, {scale}))"


def _memory_gb() -> str:
    """SQL: AllocTRES's mem in GB, exactly (rounded at 12 places for K and M)."""
    number = "TRY_CAST(rtrim(mem_txt, 'KMGTP') AS DECIMAL(18, 6))"
    branches = " ".join(f"WHEN '{unit}' THEN CAST({number} * {_decimal(factor)} AS {USAGE_NUMBER})"
                        for unit, factor in MEMORY_GB.items())
    return f"CASE right(mem_txt, 1) {branches} ELSE CAST({number} * {_decimal(MEMORY_GB['M'])} AS {USAGE_NUMBER}) END"


def rows_sql(reader: str, columns: dict[str, str], timezone: str) -> str:
    """SQL over `reader` (the file's read_csv): one row per line with usage_rows' columns, `skip`, and the line's
    first problem. `columns` maps the canonical names above to the file's column names. Nothing in it can fail:
    a value that does not read is NULL and named in `_problem`."""

    def col(name: str) -> str:
        return text_column(columns.get(name))

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
        ("NOT coalesce(list_bool_and(list_transform(items, lambda x: strpos(x, '=') > 1)), true)", "AllocTRES",
         "tres", "is not a list of name=value items separated by commas"),
        (bad_number("billing_txt"), "AllocTRES", "tres", "its billing value is not a number of 0 or more"),
        (bad_number("cpu_txt"), "AllocTRES", "tres", "its cpu value is not a number of 0 or more"),
        (bad_number("gpu_txt"), "AllocTRES", "tres", "its gres/gpu value is not a number of 0 or more"),
        (f"NOT coalesce(list_bool_and(list_transform(gpu_typed, lambda x: {number_check('x')})), true)", "AllocTRES",
         "tres", "a gres/gpu:<type> value is not a number of 0 or more"),
        (f"mem_txt IS NOT NULL AND NOT regexp_full_match(mem_txt, '{MEMORY_PATTERN}')", "AllocTRES", "tres",
         "its mem value is not an amount of memory (a number, at most 6 decimals, with K, M, G, T or P)"),
        ("NOT unfinished AND end_local < start_local", "End", "end_txt", "is before the job's Start"),
    ]
    # ElapsedRaw when the file has it, else End - Start in UTC (a change of summer time is no hour of work); a job
    # that never started (cancelled while pending) ran for no time.
    seconds = ("(CASE WHEN elapsed_raw IS NOT NULL THEN TRY_CAST(elapsed_raw AS BIGINT) WHEN started_at IS NOT NULL "
               "THEN date_diff('second', started_at, ended_at) ELSE 0 END)")
    gpu_typed_sum = f"list_sum(list_transform(gpu_typed, lambda x: TRY_CAST(x AS {USAGE_NUMBER})))"
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
        CASE WHEN contains(tres, 'gres/gpu:') THEN list_transform(
            list_filter(items, lambda x: starts_with(x, 'gres/gpu:')), lambda x: split_part(x, '=', 2))
        END AS gpu_typed,
        {_tres_value('mem')} AS mem_txt
    FROM (SELECT *, string_split(tres, ',') AS items FROM raw)
), timed AS (
    SELECT *, {problem_case(problems)} AS _problem,
        {_local_to_utc('start_local', timezone)} AS started_at,
        {_local_to_utc('end_local', timezone)} AS ended_at
    FROM typed
)
SELECT file_row_number,
    CASE WHEN is_step THEN 'step' WHEN unfinished THEN 'unfinished' END AS skip,
    'slurm_job' AS usage_kind, account, user_name, job_id, job_name, partition, cluster,
    started_at, ended_at, strftime(ended_at, '%Y-%m') AS billing_month,
    {_hours(seconds)} AS elapsed_hours,
    TRY_CAST(billing_txt AS {USAGE_NUMBER}) AS billing_units,
    TRY_CAST(cpu_txt AS {USAGE_NUMBER}) AS cpus,
    -- Slurm lists a typed GPU both as gres/gpu:<type>=N and in the total gres/gpu=N: the total when it is there,
    -- else the typed counts summed (a site that tracks only typed GPUs).
    coalesce(TRY_CAST(gpu_txt AS {USAGE_NUMBER}), {gpu_typed_sum}) AS gpus,
    {_memory_gb()} AS mem_gb,
    CAST(NULL AS DATE) AS usage_date, CAST(NULL AS {USAGE_NUMBER}) AS terabytes,
    _problem
FROM timed
"""
