"""Write a large FOCUS CSV for the import benchmark, from our generator or another one, on every core.

    python benchmarks/make_focus_file.py --generator ocb --rows 10000000 --out /data/aws_10m.csv
    pip install focus-data-toolkit==0.14.1   # another project's generator (FOCUS 1.2/1.3, 57 columns)
    python benchmarks/make_focus_file.py --generator focus-toolkit --rows 1000000 --out /data/azure_1m.csv

Both write one header and the rows of `--parts` parts, each generated with its own seed (`--seed` + part)
and concatenated in part order, so the file is the same on any machine with the same arguments; the parts are
generated on every core at once. The focus-toolkit part is its `generate` command (pure Python, about 5k rows/s
a core): 16 parts by default. Ours runs on every core by itself (DuckDB), so by default it is one part: the same
file as `ingest_benchmark.py --rows N` generates.
An existing `--out` is never overwritten.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _ocb_part(out: Path, rows: int, seed: int, version: str) -> Path:
    sys.path.insert(0, str(HERE.parent))  # tools/ is not installed: import the generator from the tree
    from tools.sample_data.generator import generate_focus_file

    return generate_focus_file(out, source="aws", months=["2025-01"], rows=rows, version=version, seed=seed)


def _toolkit_part(out: Path, rows: int, seed: int, version: str, toolkit: str, provider: str) -> Path:
    folder = out.with_suffix("")
    subprocess.run([toolkit, "generate", "--provider", provider, "--focus-version", version, "--rows", str(rows),
                    "--seed", str(seed), "--out", str(folder)], check=True, capture_output=True)
    [written] = folder.glob("*.csv")
    written.rename(out)
    folder.rmdir()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", choices=["ocb", "focus-toolkit"], required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parts", type=int, help="parts, each with its own seed (default: ocb 1, focus-toolkit 16)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--version", default="1.2", help="FOCUS version (focus-toolkit: 1.2 or 1.3)")
    parser.add_argument("--provider", default="azure", help="focus-toolkit's provider: aws, azure or gcp")
    parser.add_argument("--toolkit", default=shutil.which("focus-toolkit") or "focus-toolkit",
                        help="the focus-toolkit command")
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"{args.out} exists; it is never overwritten")
    started = time.perf_counter()
    processes = max(1, min(args.parts or (1 if args.generator == "ocb" else 16), args.rows))
    sizes = [args.rows // processes + (k < args.rows % processes) for k in range(processes)]
    with tempfile.TemporaryDirectory(dir=args.out.parent) as tmp:
        outs = [Path(tmp) / f"part-{k:03d}.csv" for k in range(processes)]
        with ProcessPoolExecutor(max_workers=min(processes, os.cpu_count() or 1)) as pool:
            if args.generator == "ocb":
                jobs = [pool.submit(_ocb_part, out, n, args.seed + k, args.version)
                        for k, (out, n) in enumerate(zip(outs, sizes, strict=True))]
            else:
                jobs = [pool.submit(_toolkit_part, out, n, args.seed + k, args.version, args.toolkit, args.provider)
                        for k, (out, n) in enumerate(zip(outs, sizes, strict=True))]
            parts = [job.result() for job in jobs]
        with open(args.out, "xb") as target:
            for k, part in enumerate(parts):
                with open(part, "rb") as source:
                    header = source.readline()
                    if k == 0:
                        target.write(header)
                    shutil.copyfileobj(source, target, 16 << 20)
    print(f"wrote {args.out}: {args.rows:,} rows, {args.out.stat().st_size / 1e6:,.0f} MB, from {processes} parts of "
          f"{args.generator} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
