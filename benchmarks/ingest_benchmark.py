"""Import + validate speed and memory against DuckDB's own CREATE TABLE AS SELECT * FROM read_csv(...).

    python benchmarks/ingest_benchmark.py                    # 1,000,000 rows (990 MB CSV), three paired runs
    python benchmarks/ingest_benchmark.py --rows 10000000    # 10,000,000 rows, bounded memory
    python benchmarks/ingest_benchmark.py --csv other.csv    # any FOCUS file (read only, never written)
    python benchmarks/ingest_benchmark.py --threads 1,2      # each thread count; speed-ups beside DuckDB's own

Each measurement runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own. The import
measurement is the same code the focus_raw and charges_validated assets run (import_file with the
FOCUS gate, then build_validated with its gate), against a new warehouse file. Both clocks start once the
process has imported its Python modules (DuckDB alone for the baseline; pandas, Pandera and ocb for the
import, about 1 s, printed beside the result) and stop when the work on the file is done. What ocb pays once
per process or once per warehouse, not per file, is also done before its clock and printed beside it: Pandera's
pandas backend, which it imports on the first validation (0.45 s), and the new warehouse's tables (0.2 s).

The baseline runs twice: with DuckDB's defaults (its own CTAS, as a user would type it) and with the
memory_limit ocb runs under (1.5 GB unless --memory-limit says otherwise). Both ratios are printed: under
a 1 GB limit DuckDB appends on one thread, which slows the baseline more than ocb, so a same-limit ratio
alone could flatter ocb.

Each ocb run prints where its time goes, step by step (wall s, CPU s, and CPU s / wall s: the cores it kept
busy, and the process's peak memory when the step ended: the step that first shows a new high reached it), and its
CPU utilisation (CPU s / wall s / threads). `--threads` sets DuckDB's threads for both the CTAS
and ocb (ocb's `database.threads`); with several counts, the speed-up from the first to each other count is
printed for ocb beside DuckDB's own on the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(kind: str, csv_path: str, db_path: str, memory_limit: str, threads: int | None) -> None:
    import duckdb

    # Each clock starts once its modules are imported (duckdb here; pandas, Pandera and ocb below, paid once per
    # process, not per file): both time the work on the file only.
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    modules_s = setup_s = 0.0
    if kind == "baseline":
        con = duckdb.connect(db_path)
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [csv_path])
        rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
        con.close()
        extra = {}
    else:
        from ocb_pipelines.charges.attribution import AttributionRules
        from ocb_pipelines.charges.validate import build_validated
        from ocb_pipelines.core.step_timer import recording_steps, timed_step
        from ocb_pipelines.ingest.importer import import_file, inspect_file
        from ocb_pipelines.warehouse import database as wh

        modules_s = time.perf_counter() - start
        setup_start = time.perf_counter()
        _load_pandera_backends()
        with wh.connect(db_path, memory_limit, threads):
            pass  # the warehouse's tables exist before any month is imported (a new file gets them once)
        setup_s = time.perf_counter() - setup_start
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        rules = AttributionRules(
            tag_keys={"pi_email": "pi_email", "project_id": "project_id", "fund_org": "fund_org",
                      "cost_center": "cost_center", "account_code": "account_code", "reference_1": "grant_number",
                      "reference_2": "request_id"},
            flag_patterns=("^test-", "PROD-", "Marketplace"),
            fund_org_patterns=("^[A-Z]{3,5}-[0-9]{6}$",),
        )
        with recording_steps() as steps, wh.connect(db_path, memory_limit, threads) as con:
            t0 = time.perf_counter()
            with timed_step("inspect: months, sha256"):
                months = inspect_file(csv_path).months
            t1 = time.perf_counter()
            results = import_file(con, csv_path, months=months, source="aws")
            t2 = time.perf_counter()
            summaries = [build_validated(con, m, rules) for m in months]
            t3 = time.perf_counter()
            used_threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        rows = sum(r.rows for r in results)
        extra = {"inspect_s": round(t1 - t0, 2), "import_s": round(t2 - t1, 2), "validate_s": round(t3 - t2, 2),
                 "flagged_rows": sum(s.flagged_rows for s in summaries),
                 "billed_total": str(sum(s.billed_total for s in summaries)),
                 "threads": int(used_threads), "steps": {name: t.as_dict() for name, t in steps.items()}}
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = {"kind": kind, "rows": rows, "seconds": round(elapsed, 2), "module_import_s": round(modules_s, 2),
              "setup_s": round(setup_s, 2),
              "cpu_seconds": round(_cpu_seconds() - cpu_start, 2),
              "peak_rss_mb": round(usage.ru_maxrss / 1024), **extra}
    print(json.dumps(record))


def _load_pandera_backends() -> None:
    """Pandera imports its pandas backend on the first validation (0.45 s): module loading, paid once per process
    like the imports above, so it is done before the clock starts, not inside the first gate."""
    import pandas as pd
    import pandera.pandas as pa

    pa.DataFrameSchema({"warm": pa.Column(nullable=True)}).validate(pd.DataFrame({"warm": [1]}))


def _measure(kind: str, csv_path: Path, memory_limit: str, threads: int | None) -> dict:
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        db = str(Path(tmp) / f"{kind}.duckdb")
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--csv", str(csv_path), "--db", db,
             "--memory-limit", memory_limit, *(["--threads", str(threads)] if threads else [])],
            capture_output=True, text=True,
        )
    if out.returncode:
        raise SystemExit(f"the {kind} run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _thread_counts(text: str) -> list[int | None]:
    """`--threads 2` or `--threads 1,2`; empty means DuckDB's default (every core)."""
    return [int(t) for t in text.split(",") if t.strip()] or [None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--version", default="1.2")
    parser.add_argument("--csv", help="a FOCUS file to measure instead of the generated one (only read, never written)")
    parser.add_argument("--threads", default="",
                        help="DuckDB threads for both the CTAS and ocb, or several (1,2) to report the speed-ups; "
                             "default: DuckDB's (every core)")
    # 1.5 GB keeps ocb's peak under 2 GB at a million rows (2.5 GB at ten million) without putting DuckDB's
    # appends on one thread, as a 1 GB limit does.
    parser.add_argument("--memory-limit", default="1500MB",
                        help="DuckDB memory_limit for ocb and for the second baseline run ('' = DuckDB's default)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-limit-baseline", action="store_true",
                        help="run the CTAS with DuckDB's defaults only, not again under ocb's memory_limit")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of (CTAS, ocb) one after the other; the median is the figure to quote (on a shared "
                             "machine a single pair can land 15%% either side of it); default 3 at a million rows "
                             "with the baseline, else 1")
    parser.add_argument("--child")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.repeat is None:
        args.repeat = 3 if args.rows <= 1_000_000 and not args.skip_baseline else 1
    if args.child:
        _child(args.child, args.csv, args.db, args.memory_limit, _thread_counts(args.threads)[0])
        return 0

    (HERE / "out").mkdir(exist_ok=True)
    csv_path = Path(args.csv).resolve() if args.csv else _generated_file(args.rows, args.version)
    if not csv_path.is_file():
        parser.error(f"--csv {args.csv}: no such file")
    size_mb = csv_path.stat().st_size / 1e6
    print(f"file: {csv_path.name}, {size_mb:,.0f} MB, {os.cpu_count()} cores, "
          f"DuckDB memory_limit={args.memory_limit or 'default'}")
    limit = args.memory_limit or "DuckDB's default"
    medians: dict[int | None, tuple[float, float]] = {}
    for threads in _thread_counts(args.threads):
        print(f"=== threads: {threads or 'DuckDB default'}")
        pairs = []
        for attempt in range(args.repeat):
            if args.repeat > 1:
                print(f"--- run {attempt + 1} of {args.repeat}")
            pairs.append(_one_run(args, csv_path, limit, threads))
        ocb_median = _median([ours["seconds"] for _, ours in pairs])
        if not args.skip_baseline:
            ctas_median = _median([base["DuckDB defaults"]["seconds"] for base, _ in pairs])
            medians[threads] = (ctas_median, ocb_median)
            ratios = sorted(ours["seconds"] / base["DuckDB defaults"]["seconds"] for base, ours in pairs)
            cpu = sorted(ours["cpu_seconds"] / base["DuckDB defaults"]["cpu_seconds"] for base, ours in pairs)
            print(f"=== threads {threads or 'default'}: {args.repeat} runs, each a CTAS then ocb; medians CTAS "
                  f"{ctas_median:.2f} s, ocb {ocb_median:.2f} s; ratio to the CTAS: wall "
                  f"{', '.join(f'{r:.2f}x' for r in ratios)} (median {_median(ratios):.2f}x); CPU "
                  f"{', '.join(f'{r:.2f}x' for r in cpu)} (median {_median(cpu):.2f}x); target: median wall ratio "
                  f"<= 2x, {'met' if _median(ratios) <= 2 else 'NOT met'}")
    if len(medians) > 1:
        first, (ctas_1, ocb_1) = next(iter(medians.items()))
        for threads, (ctas_n, ocb_n) in list(medians.items())[1:]:
            ours, theirs = ocb_1 / ocb_n, ctas_1 / ctas_n
            print(f"=== speed-up from {first} to {threads} threads (medians): ocb {ours:.2f}x, DuckDB CTAS "
                  f"{theirs:.2f}x; ocb's is {ours / theirs:.0%} of DuckDB's (target >= 85%)")
    return 0


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if len(ordered) % 2 else sum(ordered[len(ordered) // 2 - 1:][:2]) / 2


def _generated_file(rows: int, version: str) -> Path:
    """The benchmark's own file, generated once into benchmarks/out/."""
    csv_path = HERE / "out" / f"aws_2025-01_{rows}_{version}.csv"
    if not csv_path.exists():
        sys.path.insert(0, str(HERE.parent))  # tools/ is not installed: import the generator from the tree
        from tools.sample_data.generator import generate_focus_file

        t0 = time.perf_counter()
        generate_focus_file(csv_path, source="aws", months=["2025-01"], rows=rows, version=version, seed=7)
        print(f"generated {csv_path.name}: {csv_path.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t0:.1f} s")
    return csv_path


def _one_run(args: argparse.Namespace, csv_path: Path, limit: str, threads: int | None) -> tuple[dict, dict]:
    baselines = {}
    if not args.skip_baseline:
        baselines["DuckDB defaults"] = _measure("baseline", csv_path, "", threads)
        if args.memory_limit and not args.skip_limit_baseline:
            baselines[f"memory_limit {limit}"] = _measure("baseline", csv_path, args.memory_limit, threads)
    ours = _measure("ocb", csv_path, args.memory_limit, threads)
    for label, baseline in baselines.items():
        print(f"DuckDB CTAS read_csv, {label + ':':24} {baseline['seconds']:7.2f} s   peak "
              f"{baseline['peak_rss_mb']:,} MB   (CPU {baseline['cpu_seconds']} s)")
    print(f"ocb import + validate, memory_limit {limit}: {ours['seconds']:7.2f} s   peak {ours['peak_rss_mb']:,} MB   "
          f"({ours['rows']:,} rows, {ours['rows'] / ours['seconds']:,.0f} rows/s; {ours['flagged_rows']:,} flagged; "
          f"CPU {ours['cpu_seconds']} s = {ours['cpu_seconds'] / ours['seconds']:.2f} cores busy of "
          f"{ours['threads']} threads, {ours['cpu_seconds'] / ours['seconds'] / ours['threads']:.0%} utilisation; "
          f"before the clock started: its Python modules {ours['module_import_s']} s, Pandera's backends and the new "
          f"warehouse's tables {ours['setup_s']} s)")
    accounted = 0.0
    for name, step in ours["steps"].items():
        accounted += step["wall_s"] if not name.startswith(" ") else 0
        busy = step["cpu_s"] / step["wall_s"] if step["wall_s"] else 0
        print(f"    {name:42} {step['wall_s']:7.2f} s wall {step['cpu_s']:7.2f} s CPU  {busy:5.2f} cores  "
              f"peak RSS {step['peak_rss_mb']:,} MB")
    print(f"    {'(the rest: headers, lookups, commits)':42} {ours['seconds'] - accounted:7.2f} s wall")
    for label, baseline in baselines.items():
        print(f"ratio to the CTAS with {label}: {ours['seconds'] / baseline['seconds']:.2f}x wall, "
              f"{ours['cpu_seconds'] / baseline['cpu_seconds']:.2f}x CPU (target <= 2x)")
    print(f"peak memory target < {'2' if ours['rows'] <= 1_000_000 else '3'} GB")
    return baselines, ours


if __name__ == "__main__":
    raise SystemExit(main())
