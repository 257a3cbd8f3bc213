"""Generator of FICTIONAL FinOps FOCUS billing exports (FOCUS 1.0, 1.1, 1.2 and 1.3).

Every row is built inside DuckDB from ``range(N)``: each pseudo-random choice is derived from
``hash(i, seed, k)``, so the output only depends on ``(source, months, rows, version, seed,
flagged_share, extra_columns)`` (for one DuckDB version), and big files are streamed to disk
without holding rows in Python memory.

Money is carried as integers in units of 1e-10 USD and rendered through DECIMAL arithmetic, so no
float noise or ``1e-05`` notation can appear. All people, accounts, projects and funds are fictional;
e-mail addresses are always at ``example.edu`` or ``example.org``.

CSV / CSV.gz: text only; dates ``2025-01-01T00:00:00Z``; null = empty field; Tags and SkuPriceDetails
are JSON object text (RFC 4180 quoting with doubled quotes). CSV files above ``_CHUNK_ROWS`` rows are
written as chunks in parallel and concatenated (a ``.csv.gz`` is then a multi-member gzip file).
Parquet: DECIMAL(38, 10) money and quantities, TIMESTAMP WITH TIME ZONE (UTC) dates,
``MAP(VARCHAR, VARCHAR)`` Tags, VARCHAR for everything else.

The package's modules: `columns` (FOCUS columns per version), `projects` (the fictional organisation),
`products`, `cloud_sources`, `site_sources` and `sources` (the catalogues), `sql`, `query_inputs` and `query`
(the SELECT that writes a file); this module holds the public API and the command line.

Usage::

    python -m tools.sample_data.generator --out DIR --source aws --months 2025-01,2025-02 \\
        --rows 1000 --version 1.2 --format csv.gz --seed 1
    python -m tools.sample_data.generator --sample-set DIR
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from tools.sample_data.columns import FOCUS_VERSIONS, FORMATS, SOURCES, TAG_KEYS, focus_columns
from tools.sample_data.projects import PROJECTS
from tools.sample_data.query import build_query as _build_query
from tools.sample_data.sources import _source, x_columns

__all__ = [
    "FOCUS_VERSIONS",
    "FORMATS",
    "PROJECTS",
    "SOURCES",
    "TAG_KEYS",
    "focus_columns",
    "generate_focus_file",
    "generate_sample_set",
    "main",
    "x_columns",
]

_CHUNK_ROWS = 250_000  # CSV files above this size are written in parallel chunks
_MAX_WORKERS = 4


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def _infer_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv.gz"):
        return "csv.gz"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise ValueError(f"cannot infer the format of {path}; pass fmt= one of {FORMATS}")


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET memory_limit = '1GB'")
    con.execute("SET enable_progress_bar = false")
    con.execute("CREATE MACRO ocb_trim(d) AS rtrim(rtrim(CAST(d AS VARCHAR), '0'), '.')")
    return con


def generate_focus_file(
    path: str | Path,
    *,
    source: str,
    months: list[str],
    rows: int,
    version: str = "1.2",
    fmt: str | None = None,
    seed: int = 0,
    flagged_share: float = 0.08,
    extra_columns: bool = True,
) -> Path:
    """Write a fictional FOCUS export of ``rows`` rows for ``source`` spread over ``months``.

    The header is ``focus_columns(version)`` followed (if ``extra_columns``) by ``x_columns(source)``.
    About ``flagged_share`` of the rows carry problems that need human review (missing or malformed
    chargeback tags, empty Tags, suspicious resource names, AWS Marketplace charges).
    """
    out = Path(path)
    src = _source(source)
    if version not in FOCUS_VERSIONS:
        raise ValueError(f"unknown FOCUS version {version!r}; expected one of {FOCUS_VERSIONS}")
    fmt = fmt or _infer_format(out)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if not months:
        raise ValueError("months must not be empty")
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if not 0.0 <= flagged_share <= 1.0:
        raise ValueError("flagged_share must be between 0 and 1")
    build = functools.partial(
        _build_query, src, source, months, rows, version, fmt, int(seed), flagged_share, extra_columns
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet" or rows <= _CHUNK_ROWS:
        _copy(build(0, rows), out, fmt, header=True)
        return out
    # Big CSV: DuckDB writes one COPY on one thread, so fixed-size chunks are written in parallel
    # (one connection per thread) and concatenated in order. The chunking depends only on ``rows``,
    # so the bytes do not depend on the CPU count (csv.gz becomes a multi-member gzip file).
    bounds = [(a, min(a + _CHUNK_ROWS, rows)) for a in range(0, rows, _CHUNK_ROWS)]
    parts = [out.with_name(f".{out.name}.part{k:05d}") for k in range(len(bounds))]
    workers = max(1, min(os.cpu_count() or 1, _MAX_WORKERS, len(bounds)))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool, out.open("wb") as sink:
            futures = [
                pool.submit(_copy, build(a, b), part, fmt, header=k == 0)
                for k, ((a, b), part) in enumerate(zip(bounds, parts, strict=True))
            ]
            for future, part in zip(futures, parts, strict=True):
                future.result()
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, sink, 1 << 20)
                part.unlink()
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return out


def _copy(query: str, target: Path, fmt: str, *, header: bool) -> None:
    """Run one ``COPY (query) TO target`` on a fresh connection."""
    if fmt == "parquet":
        options = "FORMAT parquet, COMPRESSION zstd"
    else:
        compression = "gzip" if fmt == "csv.gz" else "none"
        options = (
            f"FORMAT csv, HEADER {str(header).lower()}, DELIMITER ',', QUOTE '\"', ESCAPE '\"', "
            f"COMPRESSION {compression}"
        )
    path = str(target).replace("'", "''")
    con = _connect()
    try:
        con.execute(f"COPY ({query}) TO '{path}' ({options})")
    finally:
        con.close()


_SAMPLE_SET: tuple[tuple[str, str, str, int, str], ...] = (
    # (file name, source, month, rows, version)
    ("aws_2025-01.csv", "aws", "2025-01", 300, "1.2"),
    ("azure_2025-01.csv.gz", "azure", "2025-01", 200, "1.0"),
    ("gcp_2025-01.parquet", "gcp", "2025-01", 150, "1.3"),
    ("hpc_2025-01.csv", "hpc", "2025-01", 150, "1.1"),
    ("storage_2025-01.csv", "storage", "2025-01", 60, "1.0"),
    ("aws_2025-02.csv", "aws", "2025-02", 100, "1.2"),
)


def generate_sample_set(out_dir: str | Path, *, seed: int = 0) -> list[Path]:
    """Write the small committed demo set (six files, all well under 1 MB) and return their paths."""
    out = Path(out_dir)
    paths = []
    for k, (name, source, month, rows, version) in enumerate(_SAMPLE_SET):
        paths.append(
            generate_focus_file(
                out / name, source=source, months=[month], rows=rows, version=version, seed=seed * 100 + k
            )
        )
    return paths


def _extension(fmt: str) -> str:
    return {"csv": "csv", "csv.gz": "csv.gz", "parquet": "parquet"}[fmt]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; prints the written path(s)."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.sample_data.generator",
        description="Generate fictional FinOps FOCUS billing exports.",
    )
    parser.add_argument("--out", type=Path, help="output directory for a single file")
    parser.add_argument("--source", choices=SOURCES, default="aws")
    parser.add_argument("--months", default="2025-01", help="comma separated YYYY-MM list")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--version", choices=FOCUS_VERSIONS, default="1.2")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flagged-share", type=float, default=0.08)
    parser.add_argument("--no-extra-columns", action="store_true", help="omit the provider x_ columns")
    parser.add_argument("--sample-set", type=Path, metavar="DIR", help="write the demo sample set to DIR")
    args = parser.parse_args(argv)

    if args.sample_set is None and args.out is None:
        parser.error("one of --out or --sample-set is required")
    try:
        if args.sample_set is not None:
            for path in generate_sample_set(args.sample_set, seed=args.seed):
                print(path)
        if args.out is not None:
            months = [m.strip() for m in args.months.split(",") if m.strip()]
            if not months:
                parser.error("--months must list at least one YYYY-MM")
            path = args.out / f"{args.source}_{months[0]}.{_extension(args.fmt)}"
            generate_focus_file(
                path,
                source=args.source,
                months=months,
                rows=args.rows,
                version=args.version,
                fmt=args.fmt,
                seed=args.seed,
                flagged_share=args.flagged_share,
                extra_columns=not args.no_extra_columns,
            )
            print(path)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
