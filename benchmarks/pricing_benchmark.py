"""Slurm jobs from sacct output to priced charges, against the import of a FOCUS file of as many rows.

    python benchmarks/pricing_benchmark.py                 # 1,000,000 jobs and a 1,000,000-row FOCUS file
    python benchmarks/pricing_benchmark.py --repeat 3      # paired runs, medians

The sacct file is make_sacct_file.py's (one allocation line per job, a `.batch` step after every fourth, 10% of
jobs without billing TRES, 1,000 accounts, one unmapped; its rates have two tiers and an `external` group), in
benchmarks/out, made if missing; the FOCUS file is make_focus_file.py's 1M-row AWS file. Each measurement runs in
a fresh subprocess against a new warehouse, the clock started once its modules are imported:
- import: `ingest.importer.import_file` of the FOCUS file (read, gate, write), as `focus_raw` runs it;
- slurm: `import_file` of the sacct file (read, parse, write usage_rows), then `pricing.engine.price_month` with
  the rates, the accounts and three subsidy rules (an allowance, a percent by group, a cap), as `focus_raw` and
  `charges_priced` run them. "pricing" is the price_month part alone.
Validation is left out of both: it is the same work on a million priced rows as on a million imported ones.
Run it on an idle machine: the figures are wall seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MONTH = "2026-03"
RULES = """
pricing:
  rates_file: {rates}
  accounts_file: {accounts}
  subsidies:
    - {{id: free-1000, kind: allowance, unit: billing-hour, quantity: 1000, sources: [hpc]}}
    - {{id: external-10, kind: percent, group: external, percent: 10}}
    - {{id: cap-5000, kind: cap, amount: 5000}}
"""


def _child(kind: str, path: str, workdir: str) -> None:
    sys.path.insert(0, str(HERE.parent))
    from ocb_pipelines.core.config import load_config
    from ocb_pipelines.ingest import importer
    from ocb_pipelines.ingest.legacy_layout import SourceDefaults
    from ocb_pipelines.pricing import engine
    from ocb_pipelines.warehouse import database as wh

    settings = load_config(Path(workdir) / "config.yaml")
    source = "hpc" if kind == "slurm" else "aws"
    with wh.connect(Path(workdir) / "warehouse.duckdb") as con:
        start = time.perf_counter()
        months = importer.inspect_file(path, con).months if kind == "import" else [MONTH]
        importer.import_file(con, path, months=months, source=source, defaults=SourceDefaults.of(settings, source))
        imported = time.perf_counter() - start
        result = {"seconds": imported}
        if kind == "slurm":
            summary = engine.price_month(con, settings, MONTH)
            result.update(seconds=time.perf_counter() - start, pricing=time.perf_counter() - start - imported,
                          usage_import=imported, rows=summary.priced_rows)
    print(json.dumps(result))


def _measure(kind: str, path: Path, sacct: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config = (HERE.parent / "config.example.yaml").read_text(encoding="utf-8")
        config += RULES.format(rates=f"{sacct}.rates.csv", accounts=f"{sacct}.accounts.csv")
        (Path(tmp) / "config.yaml").write_text(config, encoding="utf-8")
        out = subprocess.run([sys.executable, __file__, "--child", kind, "--path", str(path), "--workdir", tmp],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child")
    parser.add_argument("--path")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.path, args.workdir)
        return 0
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    sacct = out / f"hpc_{MONTH}_{args.jobs}.sacct"
    focus = out / f"aws_2025-01_{args.jobs}_1.2.csv"
    if not sacct.exists():
        subprocess.run([sys.executable, str(HERE / "make_sacct_file.py"), "--jobs", str(args.jobs), "--out",
                        str(sacct), "--month", MONTH], check=True)
    if not focus.exists():
        subprocess.run([sys.executable, str(HERE / "make_focus_file.py"), "--generator", "ocb", "--rows",
                        str(args.jobs), "--out", str(focus)], check=True)
    imports, slurms = [], []
    for run in range(args.repeat):
        imports.append(_measure("import", focus, sacct))
        slurms.append(_measure("slurm", sacct, sacct))
        print(f"run {run + 1}: FOCUS import {imports[-1]['seconds']:.1f} s; sacct import "
              f"{slurms[-1]['usage_import']:.1f} s + pricing {slurms[-1]['pricing']:.1f} s "
              f"({slurms[-1]['rows']:,} priced rows) = {slurms[-1]['seconds']:.1f} s", flush=True)
    imported = statistics.median(r["seconds"] for r in imports)
    slurm = statistics.median(r["seconds"] for r in slurms)
    pricing = statistics.median(r["pricing"] for r in slurms)
    print(f"median: FOCUS import {imported:.1f} s; sacct import + pricing {slurm:.1f} s ({slurm / imported:.2f}x); "
          f"pricing alone {pricing:.1f} s ({pricing / imported:.2f}x). Target: at most 2x.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
