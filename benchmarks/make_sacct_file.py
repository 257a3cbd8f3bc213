"""Write a large `sacct --parsable2` file (and the accounts and rates files that price it), with DuckDB.

    python benchmarks/make_sacct_file.py --jobs 1000000 --out /tmp/hpc_2026-03.sacct

Jobs end in one month (`--month`, default 2026-03) in the cluster's local time, with `--accounts` Slurm
accounts, four partitions, a billing TRES on most jobs (the rest are priced from CPU, GPU and memory hours) and a
`.batch` step line after every fourth job (steps are skipped by the import, as sacct's own allocation line is
the job). The same arguments give the same file. `<out>.accounts.csv` and `<out>.rates.csv` are written beside it.
An existing `--out` is never overwritten.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path

import duckdb

HEADER = "JobID|JobName|User|Account|Partition|Cluster|Start|End|ElapsedRaw|AllocTRES|State"
PARTITIONS = ("standard", "gpu", "highmem", "debug")


def write_sacct(out: Path, jobs: int, month: str, accounts: int, seed: int = 7) -> None:
    """The sacct file: one allocation line per job, a step line after every fourth."""
    year, mon = (int(p) for p in month.split("-"))
    with duckdb.connect() as con:
        con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
        con.execute(f"""
            CREATE TEMP TABLE jobs AS
            SELECT i,
                   'acct' || lpad(CAST(i % {accounts} AS VARCHAR), 4, '0') AS account,
                   {list(PARTITIONS)}[1 + (i * 7) % 4] AS partition,
                   make_timestamp({year}, {mon}, 1, 0, 0, 0) + to_seconds(1 + (i * 2654435761) % (27 * 86400))
                       AS ended,
                   60 + (i * 40503) % 86400 AS elapsed,
                   1 + (i % 32) AS cpus,
                   CASE WHEN (i * 7) % 4 = 1 THEN 1 + i % 4 ELSE 0 END AS gpus,
                   4 * (1 + i % 64) AS mem_gb
            FROM range({jobs}) t(i)""")
        tres = ("CASE WHEN i % 10 = 9 THEN '' ELSE 'billing=' || (cpus + 10 * gpus) || ',' END || 'cpu=' || cpus "
                "|| ',mem=' || mem_gb || 'G,node=1' || CASE WHEN gpus > 0 THEN ',gres/gpu=' || gpus ELSE '' END")
        fmt = "'%Y-%m-%dT%H:%M:%S'"
        con.execute(f"""
            COPY (
              SELECT line FROM (
                SELECT i, 0 AS step, concat_ws('|', CAST(1000000 + i AS VARCHAR), 'job' || i, 'user' || (i % 997),
                       account, partition, 'alpha', strftime(ended - to_seconds(elapsed), {fmt}),
                       strftime(ended, {fmt}), CAST(elapsed AS VARCHAR), {tres}, 'COMPLETED') AS line
                FROM jobs
                UNION ALL
                SELECT i, 1, concat_ws('|', (1000000 + i) || '.batch', 'batch', '', account, '', 'alpha',
                       strftime(ended - to_seconds(elapsed), {fmt}), strftime(ended, {fmt}),
                       CAST(elapsed AS VARCHAR), 'cpu=' || cpus || ',mem=' || mem_gb || 'G,node=1', 'COMPLETED')
                FROM jobs WHERE i % 4 = 3)
              ORDER BY i, step
            ) TO '{out}' (FORMAT csv, HEADER false, QUOTE '', DELIMITER '\\t')""")
    body = out.read_bytes()
    out.write_bytes(HEADER.encode() + b"\n" + body)


def write_pricing_files(out: Path, accounts: int) -> tuple[Path, Path]:
    """An accounts file mapping every account but the last, and rates for every partition and unit."""
    accounts_csv = out.with_name(out.name + ".accounts.csv")
    lines = ["account,pi_email,project_id,fund_org,group"]
    lines += [f"acct{n:04d},pi{n % 200}@example.edu,proj-{n:04d},RCIT-{100000 + n:06d},"
              f"{'external' if n % 10 == 0 else ''}" for n in range(accounts - 1)]
    accounts_csv.write_text("\n".join(lines) + "\n")
    rates_csv = out.with_name(out.name + ".rates.csv")
    rates = ["source,service_name,unit,list_unit_price,billed_unit_price,valid_from,valid_to,tier_from,tier_to,group"]
    for unit, price in (("billing-hour", "0.02"), ("cpu-hour", "0.015"), ("gpu-hour", "0.90"),
                        ("mem-gb-hour", "0.001")):
        rates.append(f"hpc,*,{unit},{price},{price},2020-01-01,,0,100000,")
        rates.append(f"hpc,*,{unit},{price},{Decimal(price) / 2},2020-01-01,,100000,,")
        rates.append(f"hpc,*,{unit},{price},{price},2020-01-01,,0,,external")
    rates_csv.write_text("\n".join(rates) + "\n")
    return accounts_csv, rates_csv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--month", default="2026-03")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"{args.out} exists; it is never overwritten")
    write_sacct(args.out, args.jobs, args.month, args.accounts, args.seed)
    write_pricing_files(args.out, args.accounts)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.0f} MB, {args.jobs:,} jobs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
