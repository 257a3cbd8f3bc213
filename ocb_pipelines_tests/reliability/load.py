"""Load: the inbox receives many files at once; the sensor's runs must import every row exactly once.

The files come from the sample generator (several FOCUS versions and all three formats, some files
spanning two or three months, a few byte-identical copies under other names). The ground truth is read
from the files themselves with DuckDB (independently of the importer): rows and exact DECIMAL billed
totals per (month, source). The inbox sensor is evaluated against a real Dagster instance in a temp
DAGSTER_HOME and every run it requests is executed the way the daemon would (its run_key, tags, run
config and partition, skipping run_keys already launched), in waves while more files arrive.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.ingest.sensors import focus_inbox_sensor
from ocb_pipelines.defs.resources import build_resources
from ocb_pipelines.services.dagster_runs import DAGSTER_YAML
from ocb_pipelines.warehouse import database as wh
from tools.sample_data.generator import FOCUS_VERSIONS, SOURCES, generate_focus_file

REPO = Path(__file__).resolve().parents[2]
SENSOR = "focus_inbox_sensor"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass(frozen=True)
class FileSpec:
    name: str
    source: str
    months: tuple[str, ...]
    rows: int
    version: str
    fmt: str
    seed: int
    copy_of: str | None = None  # a byte-identical duplicate of that file, under another name


def month_keys(count: int, start: str = "2025-01") -> list[str]:
    year, month = (int(x) for x in start.split("-"))
    keys = []
    for _ in range(count):
        keys.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def plan_files(files: int, months: int, sources: int, seed: int = 0) -> list[FileSpec]:
    """`files` inbox files over `months` months and `sources` sources: about 1 in 8 spans 2-3 months,
    about 1 in 25 (at least one) is a copy of an earlier file of the same source under another name."""
    if not 1 <= sources <= len(SOURCES):
        raise ValueError(f"sources must be 1..{len(SOURCES)}")
    rng = random.Random(seed)
    keys = month_keys(months)
    srcs = SOURCES[:sources]
    copies = max(1, files // 25) if files >= 4 else 0
    specs: list[FileSpec] = []
    exts = {"csv": "csv", "csv.gz": "csv.gz", "parquet": "parquet"}
    for k in range(files - copies):
        source = srcs[k % sources]
        first = (k // sources) % months
        span = rng.choice((2, 3)) if k % 8 == 5 and first + 1 < months else 1
        covered = tuple(keys[first:first + span])
        fmt = ("csv", "csv", "csv.gz", "parquet")[k % 4]
        specs.append(FileSpec(
            name=f"{source}_{covered[0]}_{k:03d}.{exts[fmt]}", source=source, months=covered,
            rows=rng.randint(10, 60), version=FOCUS_VERSIONS[k % len(FOCUS_VERSIONS)], fmt=fmt, seed=seed * 10_000 + k,
        ))
    originals = list(specs)
    for j in range(copies):
        original = originals[rng.randrange(len(originals))]
        ext = original.name.split(".", 1)[1]
        specs.append(FileSpec(
            name=f"{original.source}_{original.months[0]}_resent{j:02d}.{ext}", source=original.source,
            months=original.months, rows=original.rows, version=original.version, fmt=original.fmt,
            seed=original.seed, copy_of=original.name,
        ))
    return specs


def write_files(specs: list[FileSpec], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for spec in specs:
        if spec.copy_of:
            paths[spec.name] = Path(shutil.copyfile(paths[spec.copy_of], folder / spec.name))
        else:
            paths[spec.name] = generate_focus_file(
                folder / spec.name, source=spec.source, months=list(spec.months), rows=spec.rows,
                version=spec.version, fmt=spec.fmt, seed=spec.seed,
            )
    return paths


def ground_truth(specs: list[FileSpec], paths: dict[str, Path]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """(month, source) -> (rows, exact billed total), read from the files themselves (copies excluded)."""
    truth: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    with duckdb.connect(":memory:") as con:
        con.execute("SET TimeZone = 'UTC'")
        for spec in specs:
            if spec.copy_of:
                continue
            path = str(paths[spec.name]).replace("'", "''")
            reader = (f"read_parquet('{path}')" if spec.fmt == "parquet"
                      else f"read_csv('{path}', all_varchar = true, header = true)")
            for month, rows, billed in con.execute(
                f"SELECT left(CAST(BillingPeriodStart AS VARCHAR), 7), count(*), "
                f"sum(CAST(BilledCost AS {wh.MONEY})) FROM {reader} GROUP BY 1"
            ).fetchall():
                truth[(month, spec.source)][0] += rows
                truth[(month, spec.source)][1] += Decimal(billed)
    return {k: (v[0], v[1]) for k, v in truth.items()}


def prepare_workdir(workdir: Path) -> tuple[Path, Path]:
    """config.yaml (the example's) and a DAGSTER_HOME with ocb's dagster.yaml; returns both paths."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yaml"
    if not config.exists():
        shutil.copy(REPO / "config.example.yaml", config)
    (workdir / "data" / "inbox").mkdir(parents=True, exist_ok=True)
    with wh.connect(workdir / "data" / "warehouse.duckdb"):  # the first run's `ocb ingest --init`
        pass
    home = workdir / "dagster_home"
    home.mkdir(exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    return config, home


class Daemon:
    """What the Dagster daemon does for the inbox sensor: evaluate a tick with the stored cursor, launch
    each requested run once per run_key (here: execute it in process against the same instance)."""

    def __init__(self, instance: dg.DagsterInstance, config: Path):
        self.instance = instance
        self.config = config
        self.cursor: str | None = None
        self.defs = build_definitions(config)
        self.job = self.defs.resolve_job_def("ingest_job")
        self.runs: list[dict[str, Any]] = []

    def tick(self) -> list[dg.RunRequest]:
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor, sensor_name=SENSOR,
                                     resources=build_resources(self.config)) as context:
            result = focus_inbox_sensor(context)
        self.cursor = result.cursor
        return list(result.run_requests or [])

    def launched(self, run_key: str) -> bool:
        return bool(self.instance.get_run_ids(dg.RunsFilter(tags={"dagster/sensor_name": SENSOR,
                                                                  "dagster/run_key": run_key})))

    def execute(self, request: dg.RunRequest) -> dict[str, Any]:
        if self.launched(request.run_key):
            return {"run_key": request.run_key, "skipped": True}
        job = self.defs.resolve_job_def(request.job_name) if request.job_name else self.job  # late_import_job too
        tags = {**job.tags, **(request.tags or {}), "dagster/sensor_name": SENSOR,
                "dagster/run_key": request.run_key}
        result = job.execute_in_process(
            run_config={**QUIET, **request.run_config}, partition_key=request.partition_key,
            instance=self.instance, tags=tags, raise_on_error=False,
        )
        record = {"run_key": request.run_key, "month": request.partition_key, "run_id": result.run_id,
                  "success": result.success, "files": len(request.run_config["ops"]["focus_raw"]["config"]["files"])}
        self.runs.append(record)
        return record


def imported(db: Path) -> dict[str, Any]:
    """What the warehouse holds: rows and billed per (month, source) in focus_raw and charges_validated,
    and how many (source, file, row) lineage keys occur more than once."""
    with wh.connect(db) as con:
        raw = {(m, s): (n, Decimal(b)) for m, s, n, b in con.execute(
            f"SELECT billing_month, source, count(*), sum(CAST(BilledCost AS {wh.MONEY})) FROM focus_raw "
            "GROUP BY ALL").fetchall()}
        validated = {(m, s): (n, Decimal(b)) for m, s, n, b in con.execute(
            "SELECT billing_month, source, count(*), sum(billed_cost) FROM charges_validated GROUP BY ALL").fetchall()}
        lineage_dupes = con.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM focus_raw "
            "GROUP BY source, file_name, file_row_number HAVING count(*) > 1)").fetchall()[0][0]
        validated_dupes = con.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM charges_validated "
            "GROUP BY source, file_name, file_row_number HAVING count(*) > 1)").fetchall()[0][0]
        files = {r[0] for r in con.execute("SELECT DISTINCT file_name FROM import_files").fetchall()}
    return {"raw": raw, "validated": validated, "lineage_dupes": int(lineage_dupes),
            "validated_dupes": int(validated_dupes), "files": files}


def compare(truth: dict, got: dict) -> dict[str, Any]:
    """Rows and money lost (expected but missing) and doubled (more than expected), per (month, source)."""
    out = {"rows_lost": 0, "rows_doubled": 0, "money_lost": Decimal(0), "money_doubled": Decimal(0)}
    for key in set(truth) | set(got):
        exp_n, exp_b = truth.get(key, (0, Decimal(0)))
        got_n, got_b = got.get(key, (0, Decimal(0)))
        out["rows_lost"] += max(0, exp_n - got_n)
        out["rows_doubled"] += max(0, got_n - exp_n)
        out["money_lost"] += max(Decimal(0), exp_b - got_b)
        out["money_doubled"] += max(Decimal(0), got_b - exp_b)
    return out


def run_load(workdir: Path, files: int = 200, months: int = 12, sources: int = 5, seed: int = 0,
             waves: int = 2) -> dict[str, Any]:
    """Drop `files` generated files into the inbox in `waves`, run the sensor's runs, check every row once.

    Returns the figures: files, rows and money expected and imported, lost and doubled, runs, seconds."""
    started = time.perf_counter()
    workdir = Path(workdir)
    config, home = prepare_workdir(workdir)
    specs = plan_files(files, months, sources, seed)
    staged = write_files(specs, workdir / "staging")
    truth = ground_truth(specs, staged)
    generated = time.perf_counter()
    inbox = workdir / "data" / "inbox"
    batches = [specs[i::waves] for i in range(waves)]
    ticks: list[int] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        daemon = Daemon(instance, config)
        for batch in batches:
            for spec in batch:  # "at once": every file of the wave lands before the next tick
                staged[spec.name].replace(inbox / spec.name)
            requests = daemon.tick()
            ticks.append(len(requests))
            for request in requests:
                daemon.execute(request)
        quiet_tick = daemon.tick()  # nothing new: the next tick must request nothing
        replayed = [daemon.execute(r) for r in requests]  # the last wave's requests again: run_key dedup
        runs_in_instance = len(instance.get_run_ids(dg.RunsFilter(tags={"dagster/sensor_name": SENSOR})))
    got = imported(workdir / "data" / "warehouse.duckdb")
    raw_cmp = compare(truth, got["raw"])
    val_cmp = compare(truth, got["validated"])
    expected_rows = sum(n for n, _ in truth.values())
    copies = [s for s in specs if s.copy_of]
    figures = {
        "files": len(specs),
        "files_multi_month": sum(1 for s in specs if len(s.months) > 1 and not s.copy_of),
        "files_duplicate": len(copies),
        "duplicates_doubled": sum(1 for s in copies if s.name in got["files"] and s.copy_of in got["files"]),
        "months": months,
        "sources": sources,
        "waves": waves,
        "runs": len(daemon.runs),
        "runs_failed": sum(1 for r in daemon.runs if not r["success"]),
        "runs_in_instance": runs_in_instance,
        "runs_requested_per_wave": ticks,
        "runs_after_quiet_tick": len(quiet_tick),
        "runs_relaunched": sum(1 for r in replayed if not r.get("skipped")),
        "rows_expected": expected_rows,
        "rows_imported": sum(n for n, _ in got["raw"].values()),
        "rows_validated": sum(n for n, _ in got["validated"].values()),
        "rows_lost": raw_cmp["rows_lost"] + val_cmp["rows_lost"],
        "rows_doubled": raw_cmp["rows_doubled"] + val_cmp["rows_doubled"] + got["lineage_dupes"]
        + got["validated_dupes"],
        "lineage_duplicates": got["lineage_dupes"] + got["validated_dupes"],
        "money_expected": sum((b for _, b in truth.values()), Decimal(0)),
        "money_imported": sum((b for _, b in got["raw"].values()), Decimal(0)),
        "money_validated": sum((b for _, b in got["validated"].values()), Decimal(0)),
        "money_lost": raw_cmp["money_lost"] + val_cmp["money_lost"],
        "money_doubled": raw_cmp["money_doubled"] + val_cmp["money_doubled"],
        "by_month_source_equal": got["raw"] == truth and got["validated"] == truth,
        "seconds_generate": round(generated - started, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return figures
