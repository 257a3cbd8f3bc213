"""Statement rendering speed: a month of 400 projects with about 150 charge lines each.

    python benchmarks/statements_benchmark.py                  # 400 projects x 150 lines, 2 workers
    python benchmarks/statements_benchmark.py --projects 100 --workers 1

Builds a fictional month through the real pipeline code (FOCUS import, validation, approval, close),
then times `generate_statements` (Pandera gate, Jinja, CSV, WeasyPrint on a process pool, the
`statements` table) from a cold start, and a second run with unchanged charges (nothing re-rendered).
The predecessor (OpenChargeback) renders about 0.7 statements per second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICES = [("Amazon EC2", "aws"), ("Amazon S3", "aws"), ("Compute Engine", "gcp"), ("HPC Cluster", "hpc"),
            ("Research Storage", "storage"), ("Azure VMs", "azure"), ("Cloud Storage", "gcp")]
MONTH = "2025-01"


def build_month(settings, projects: int, lines: int, seed: int = 7) -> int:
    from ocb_pipelines.charges.validate import build_validated
    from ocb_pipelines.defs.charges.assets import rules_from
    from ocb_pipelines.ingest.importer import import_file
    from ocb_pipelines.periods.lifecycle import close_period
    from ocb_pipelines.review.approve import build_approved
    from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
    from ocb_pipelines.warehouse import database as wh

    rng = random.Random(seed)
    rows = []
    for p in range(projects):
        pi = f"pi.{p // 2:03d}@example.edu"  # two projects per PI
        funds = [f"ABC-{100000 + p:06d}"] + ([f"XYZ-{200000 + p:06d}"] if p % 3 == 0 else [])
        for i in range(lines):
            service, _ = SERVICES[rng.randrange(len(SERVICES))]
            billed = rng.randint(-200, 40000) / 100 if i % 50 == 49 else rng.randint(1, 40000) / 100
            listed = "" if i % 7 == 0 else f"{billed * rng.choice([1, 1.15, 2]):.2f}"
            rows.append(charge_row(MONTH, billed=f"{billed:.2f}", resource=f"res-{p}-{i % 40}", service=service,
                                   pi_email=pi, project_id=f"project-{p:03d}", fund_org=funds[i % len(funds)],
                                   ListCost=listed))
    path = write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[MONTH], source="aws")
        build_validated(con, MONTH, rules_from(settings))
        build_approved(con, MONTH)
        close_period(con, MONTH, "benchmark")
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=400)
    parser.add_argument("--lines", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (to look at the PDFs).")
    args = parser.parse_args()
    os.environ.setdefault("OCB_ACTOR", "benchmark")

    from ocb_pipelines.core.config import load_config
    from ocb_pipelines.statements.generate import generate_statements
    from ocb_pipelines.warehouse import database as wh

    tmp = Path(tempfile.mkdtemp(prefix="ocb_statements_bench_"))
    try:
        shutil.copy(REPO / "config.example.yaml", tmp / "config.yaml")
        settings = load_config(tmp / "config.yaml")
        t0 = time.perf_counter()
        rows = build_month(settings, args.projects, args.lines)
        setup = time.perf_counter() - t0
        with wh.connect(settings.warehouse_path) as con:
            first = generate_statements(con, settings, MONTH, workers=args.workers)
            second = generate_statements(con, settings, MONTH, workers=args.workers)
        pdf_bytes = sum(o.pdf_path.stat().st_size for o in first.outcomes)
        n = len(first.outcomes)
        report = {
            "projects": n, "charge_lines": rows, "workers": args.workers, "cpus": os.cpu_count(),
            "setup_seconds": round(setup, 1),
            "first_run_seconds": round(first.seconds, 2), "rendered": first.count("rendered"),
            "statements_per_second": round(n / first.seconds, 2),
            "predecessor_per_second": 0.7, "speedup": round(n / first.seconds / 0.7, 1),
            "second_run_seconds": round(second.seconds, 2), "second_run_rendered": second.count("rendered"),
            "second_run_unchanged": second.count("unchanged"),
            "mean_pdf_kb": round(pdf_bytes / max(n, 1) / 1024, 1),
        }  # fmt: skip
        print(json.dumps(report, indent=2))
        if args.keep:
            print(f"kept: {tmp}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
