"""The pricing engine alone: a month of synthetic Slurm jobs (usage_rows written with SQL) priced, against the import
of a FOCUS file of as many rows on the same machine.

    python benchmarks/pricing_engine_benchmark.py                        # 1,000,000 jobs, then the FOCUS import
    python benchmarks/pricing_engine_benchmark.py --jobs 200000 --focus-csv ''   # pricing only

The jobs: 200 accounts (every seventh in group `external`, which has its own price), four partitions, a rate
change on 15 March, two tiers per project, 90% of jobs with billing TRES and the rest priced from CPU, GPU and
memory hours; three subsidy rules (an allowance, a percent for the external group, a cap). The import is
ingest.importer.import_file of `--focus-csv` (default: make_focus_file's 1M-row AWS file in benchmarks/out, made
if missing) into a new warehouse, without validation. Each figure is wall seconds, with the step times of the
pricing. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ocb_pipelines.core.config import load_config  # noqa: E402
from ocb_pipelines.core.pricing_config import PricingSettings, SubsidyRule  # noqa: E402
from ocb_pipelines.core.step_timer import recording_steps  # noqa: E402
from ocb_pipelines.pricing import engine  # noqa: E402
from ocb_pipelines.warehouse import database as wh  # noqa: E402

MONTH = "2026-03"
JOBS_SQL = """
INSERT INTO usage_rows (billing_month, import_key, file_row_number, usage_kind, account, user_name, job_id, job_name,
                        partition, cluster, started_at, ended_at, elapsed_hours, billing_units, cpus, gpus, mem_gb)
SELECT '2026-03', 1, i + 1, 'slurm_job', 'acct' || lpad(CAST(i % 200 AS VARCHAR), 4, '0'), 'user' || (i % 997),
    CAST(1000000 + i AS VARCHAR), 'job' || i, ['standard', 'gpu', 'highmem', 'debug'][1 + (i * 7) % 4], 'alpha',
    end_at - to_seconds(seconds), end_at, CAST(round(CAST(seconds AS DECIMAL(38, 12)) / 3600, 12) AS DECIMAL(38, 12)),
    CASE WHEN i % 10 = 9 THEN NULL ELSE 1 + i % 32 + 10 * gpus END, 1 + i % 32, gpus, 4 * (1 + i % 64)
FROM (SELECT i, TIMESTAMP '2026-03-01' + to_seconds(1 + (i * 2654435761) % (27 * 86400)) AS end_at,
             60 + (i * 40503) % 86400 AS seconds, CASE WHEN (i * 7) % 4 = 1 THEN 1 + i % 4 ELSE 0 END AS gpus
      FROM range(?) t(i))
"""


def pricing_files(folder: Path) -> PricingSettings:
    accounts = ["account,pi_email,project_id,fund_org,group"] + [
        f"acct{n:04d},pi{n % 150}@example.edu,proj{n % 180},FUND-{100000 + n % 40},{'external' if n % 7 == 0 else ''}"
        for n in range(200)]
    rates = ["source,service_name,unit,list_unit_price,billed_unit_price,valid_from,valid_to,tier_from,tier_to,group"]
    for service in ("standard", "gpu", "highmem", "*"):
        rates += [f"hpc,{service},billing-hour,0.02,0.015,2026-01-01,2026-03-14,0,5000,",
                  f"hpc,{service},billing-hour,0.02,0.01,2026-01-01,2026-03-14,5000,,",
                  f"hpc,{service},billing-hour,0.03,0.02,2026-03-15,,0,5000,",
                  f"hpc,{service},billing-hour,0.03,0.015,2026-03-15,,5000,,",
                  f"hpc,{service},billing-hour,0.05,0.04,2026-01-01,,,,external"]
    rates += ["hpc,*,cpu-hour,0.01,0.008,2026-01-01,,,,", "hpc,*,gpu-hour,0.5,0.4,2026-01-01,,,,",
              "hpc,*,mem-gb-hour,0.001,0.0005,2026-01-01,,,,"]
    (folder / "accounts.csv").write_text("\n".join(accounts) + "\n")
    (folder / "rates.csv").write_text("\n".join(rates) + "\n")
    rules = [SubsidyRule(id="free", kind="allowance", unit="billing-hour", quantity=1000),
             SubsidyRule(id="ext", kind="percent", percent=10, group="external"),
             SubsidyRule(id="cap", kind="cap", amount=20000)]
    return PricingSettings(rates_file=folder / "rates.csv", accounts_file=folder / "accounts.csv", subsidies=rules)


def price(jobs: int, folder: Path) -> float:
    shutil.copy(HERE.parent / "config.example.yaml", folder / "config.yaml")
    settings = load_config(folder / "config.yaml").model_copy(update={"pricing": pricing_files(folder)})
    with wh.connect(folder / "warehouse.duckdb") as con:
        con.execute("INSERT INTO imports VALUES (1, 'bench', ?, 'hpc', 'jobs.sacct', 'x', 'slurm-sacct', NULL, "
                    "now()::TIMESTAMP, NULL, NULL)", [MONTH])
        con.execute("INSERT INTO import_files VALUES ('hpc', 'jobs.sacct', ?, 'x', 'jobs.sacct', 'sacct', "
                    "'slurm-sacct', NULL, ?, 0, 0, now()::TIMESTAMP, 'bench', NULL)", [MONTH, jobs])
        con.execute(JOBS_SQL, [jobs])
        started = time.perf_counter()
        with recording_steps() as steps:
            summary = engine.price_month(con, settings, MONTH, actor="bench")
        seconds = time.perf_counter() - started
        print(f"priced {jobs:,} jobs in {seconds:.2f} s: {engine.describe(summary)}")
        for name, step in steps.items():
            print(f"  {name}: {step.as_dict()}")
        started = time.perf_counter()
        assert engine.price_month(con, settings, MONTH, actor="bench").unchanged
        print(f"  unchanged re-run: {time.perf_counter() - started:.2f} s")
    return seconds


def import_seconds(csv: Path, folder: Path) -> float:
    from ocb_pipelines.ingest import importer

    with wh.connect(folder / "warehouse.duckdb") as con:
        started = time.perf_counter()
        (result,) = importer.import_file(con, csv, months=["2025-01"], source="aws")
        seconds = time.perf_counter() - started
    print(f"imported {result.rows:,} FOCUS rows of {csv.name} in {seconds:.2f} s")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--focus-csv", default=str(HERE / "out" / "aws_2025-01_1000000_1.2.csv"),
                        help="the FOCUS file whose import pricing is compared with ('' to skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pricing").mkdir()
        priced = price(args.jobs, Path(tmp) / "pricing")
        if args.focus_csv:
            csv = Path(args.focus_csv)
            if not csv.exists():
                subprocess.run([sys.executable, str(HERE / "make_focus_file.py"), "--generator", "ocb", "--rows",
                                str(args.jobs), "--out", str(csv)], check=True)
            (Path(tmp) / "import").mkdir()
            imported = import_seconds(csv, Path(tmp) / "import")
            print(f"pricing / import: {priced / imported:.2f}x (target: at most 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
