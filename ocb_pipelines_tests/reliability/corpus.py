"""The bad-input corpus and the reader fuzz as functions that return figures (for benchmarks/reliability.py).

The same inputs and rules as ingest/test_bad_input.py: every corpus file is refused with an error that
starts with the file's name, says what is wrong and is short, and the warehouse (which already holds a good
import) is byte-for-byte the same table content afterwards. The fuzz feeds hypothesis-made FOCUS rows and
trailing junk to the reader: it imports or refuses with ImportRefused, nothing else.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import load_config
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import ImportRefused, import_file, inspect_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import REPO, focus_row, write_focus
from ocb_pipelines_tests.ingest import bad_inputs

TABLES = ("focus_raw", "import_files", "charges_validated")


def _snapshot(db: Path) -> dict[str, list]:
    with wh.connect(db) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def run_bad_inputs(workdir: Path) -> dict[str, Any]:
    """Every corpus input against a warehouse holding a good import. Returns counts and any failures."""
    started = time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "corpus.duckdb"
    good = write_focus(workdir / "azure_2025-01.csv", [focus_row(billed="7")])
    with wh.connect(db) as con:
        import_file(con, good, months=["2025-01"], source="azure")
    before = _snapshot(db)
    figures: dict[str, Any] = {"inputs": 0, "clear_errors": 0, "warehouse_unchanged": 0, "tags_to_review": 0,
                               "failures": []}
    for make, expected in bad_inputs.REFUSED:
        folder = workdir / make.__name__
        folder.mkdir()
        path = make(folder)
        figures["inputs"] += 1
        months = ["2025-01"]
        with contextlib.suppress(ImportRefused):
            months = list(inspect_file(path).months) or months
        message = ""
        try:
            with wh.connect(db) as con:
                import_file(con, path, months=months, source="aws")
        except ImportRefused as exc:
            message = str(exc)
        except Exception as exc:  # an unclear error is a finding, not a crash of the benchmark
            message = f"UNHANDLED {type(exc).__name__}: {exc}"
        if message.startswith(path.name) and expected in message and len(message) < 5_000:
            figures["clear_errors"] += 1
        else:
            figures["failures"].append(f"{make.__name__}: {message[:300] or 'imported, not refused'}")
        if _snapshot(db) == before:
            figures["warehouse_unchanged"] += 1
        else:
            figures["failures"].append(f"{make.__name__}: the warehouse changed")
        shutil.rmtree(folder)  # the 100 MB cell and the gzip bomb do not stay on disk
    settings_ = load_config(_config(workdir))
    for kind, tags in bad_inputs.REVIEWED_TAGS.items():
        figures["inputs"] += 1
        path = write_focus(workdir / f"aws_2025-01_{kind}.csv", [focus_row(tags=tags)])
        with wh.connect(workdir / f"tags_{kind}.duckdb") as con:
            import_file(con, path, months=["2025-01"], source="aws")
            build_validated(con, "2025-01", rules_from(settings_))
            [(reasons,)] = con.execute("SELECT review_reasons FROM charges_validated").fetchall()
        if reasons and ("invalid_tags" in reasons or "invalid_pi_email" in reasons):
            figures["tags_to_review"] += 1
        else:
            figures["failures"].append(f"tags {kind}: not routed to review ({reasons})")
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _config(workdir: Path) -> Path:
    config = workdir / "config.yaml"
    if not config.exists():
        shutil.copy(REPO / "config.example.yaml", config)
    return config


def run_reader_fuzz(workdir: Path, examples: int = 200, seed: int = 0) -> dict[str, Any]:
    """`examples` hypothesis-made files through inspect_file + import_file; counts outcomes."""
    started = time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    counts = {"examples": 0, "imported": 0, "refused": 0, "unhandled": 0}
    unhandled: list[str] = []

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(**bad_inputs.FUZZ_STRATEGIES)
    def one(overrides: dict[str, str], raw_bytes: bytes | None) -> None:
        counts["examples"] += 1
        counts[bad_inputs.read_or_refuse(workdir, overrides, raw_bytes)] += 1

    try:
        one()
    except Exception as exc:  # hypothesis re-raises the shrunk failing example
        counts["unhandled"] += 1
        unhandled.append("".join(traceback.format_exception_only(type(exc), exc))[-500:])
    return {**counts, "failures": unhandled, "seconds": round(time.perf_counter() - started, 1)}
