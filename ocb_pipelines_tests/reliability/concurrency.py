"""Concurrency: `ocb ingest` (a separate process) and a sensor-triggered run start at the same moment
on the same warehouse. DuckDB takes one writer process at a time: one of them waits for the lock
(dagster-duckdb's connection backoff, `core.warehouse.open_connection`), or fails with a lock error and
a retry succeeds. Either way both finish and the warehouse ends exactly as after a sequential run.

The two start together through a two-way handshake, not a sleep: the CLI process is started with the
package already imported, says `ready`, and blocks on its stdin; the parent evaluates the sensor,
builds the run, writes `go` and starts the run in the same instant.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import dagster as dg

from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.reliability.load import Daemon, prepare_workdir
from tools.sample_data.generator import generate_focus_file

# The CLI exactly as the console script runs it (`ocb = ocb_pipelines.cli.main:cli`), imported ahead of
# the handshake so that both sides reach the warehouse together.
CHILD = textwrap.dedent("""
    import sys, time
    from ocb_pipelines.cli.main import cli
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()
    sys.stderr.write(f"started {time.time()}\\n"); sys.stderr.flush()
    try:
        cli.main(args=sys.argv[1:], prog_name="ocb")
    finally:
        sys.stderr.write(f"ended {time.time()}\\n"); sys.stderr.flush()
""")

LOCK_WORDS = ("lock", "Conflicting", "being used by another process")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(home)
    env.setdefault("OCB_ACTOR", "reliability")
    return env


def _start_cli(config: Path, home: Path, path: Path, source: str) -> subprocess.Popen:
    args = [sys.executable, "-c", CHILD, "ingest", str(path), "-s", source, "-c", str(config), "--json"]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(home), text=True)


def _wait_ready(proc: subprocess.Popen, timeout: float = 120.0) -> None:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""  # type: ignore[union-attr]
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the CLI process did not get ready: {line!r} {proc.stderr.read()!r}")  # type: ignore[union-attr]


def _cli_outcome(proc: subprocess.Popen, timeout: float = 600.0) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)  # a deadlock would end here, as a TimeoutExpired
    stamps = dict(line.split(" ", 1) for line in err.splitlines() if line.startswith(("started ", "ended ")))
    return {"rc": proc.returncode, "stdout": out, "stderr": err,
            "start": float(stamps.get("started", "nan")), "end": float(stamps.get("ended", "nan"))}


def snapshot(db: Path) -> dict[str, list]:
    """The warehouse's content without what differs between two equal runs (run ids, times, paths)."""
    with wh.connect(db) as con:
        raw_cols = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'focus_raw' "
            "AND column_name NOT IN ('imported_at', 'run_id', 'import_id') ORDER BY column_index").fetchall()]
        val_cols = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'charges_validated' "
            "AND column_name NOT IN ('validated_at', 'run_id') ORDER BY column_index").fetchall()]
        quoted = lambda cols: ", ".join(f'"{c}"' for c in cols)  # noqa: E731
        return {
            "focus_raw": con.execute(f"SELECT {quoted(raw_cols)} FROM focus_raw ORDER BY ALL").fetchall(),
            "charges_validated": con.execute(
                f"SELECT {quoted(val_cols)} FROM charges_validated ORDER BY ALL").fetchall(),
            "import_files": con.execute(
                "SELECT source, file_name, billing_month, file_sha256, row_count, billed_total, list_total "
                "FROM import_files ORDER BY ALL").fetchall(),
            "billing_periods": con.execute("SELECT period, status FROM billing_periods ORDER BY ALL").fetchall(),
        }


def _make_files(workdir: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """One export for the CLI (outside the inbox) and one dropped into the inbox, same month."""
    cli_file = generate_focus_file(workdir / "exports" / "aws_2025-01.csv", source="aws",
                                   months=["2025-01"], rows=rows, seed=seed)
    inbox_file = generate_focus_file(workdir / "data" / "inbox" / "azure_2025-01.csv", source="azure",
                                     months=["2025-01", "2025-02"], rows=rows, version="1.1", seed=seed + 1)
    return cli_file, inbox_file


def _is_lock_error(text: str) -> bool:
    return any(word in text for word in LOCK_WORDS)


def race(workdir: Path, rows: int = 2000, seed: int = 0) -> dict[str, Any]:
    """One race of the CLI and a sensor run; returns what happened (retries, overlap, outcomes)."""
    config, home = prepare_workdir(workdir)
    cli_file, _ = _make_files(workdir, rows, seed)
    retries = {"cli": 0, "sensor": 0}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        daemon = Daemon(instance, config)
        requests = daemon.tick()
        proc = _start_cli(config, home, cli_file, "aws")
        _wait_ready(proc)
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        sensor_start = time.time()
        outcomes = [daemon.execute(r) for r in requests]
        sensor_end = time.time()
        cli = _cli_outcome(proc)
        for k, outcome in enumerate(outcomes):  # a run that lost the lock race is retried once, as an operator would
            if not outcome["success"]:
                retries["sensor"] += 1
                outcomes[k] = daemon.execute(requests[k].with_replaced_attrs(run_key=f"{requests[k].run_key}:retry"))
        if cli["rc"] != 0 and _is_lock_error(cli["stdout"] + cli["stderr"]):
            retries["cli"] += 1
            proc = _start_cli(config, home, cli_file, "aws")
            _wait_ready(proc)
            proc.stdin.write("go\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            cli = _cli_outcome(proc)
        runs = instance.get_run_records(dg.RunsFilter())
    overlap = max(0.0, min(sensor_end, cli["end"]) - max(sensor_start, cli["start"]))
    return {
        "cli_rc": cli["rc"], "cli_error": "" if cli["rc"] == 0 else (cli["stdout"] + cli["stderr"])[-2000:],
        "sensor_runs": len(outcomes), "sensor_ok": all(o["success"] for o in outcomes),
        "retries": retries, "overlap_seconds": round(overlap, 2),
        "runs_in_instance": len(runs), "runs_failed": sum(1 for r in runs if r.dagster_run.is_failure),
    }


def sequential(workdir: Path, rows: int = 2000, seed: int = 0) -> None:
    """The same work one after the other: the sensor's runs, then `ocb ingest`."""
    config, home = prepare_workdir(workdir)
    cli_file, _ = _make_files(workdir, rows, seed)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        daemon = Daemon(instance, config)
        for request in daemon.tick():
            assert daemon.execute(request)["success"]
    proc = _start_cli(config, home, cli_file, "aws")
    _wait_ready(proc)
    proc.stdin.write("go\n")  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]
    cli = _cli_outcome(proc)
    if cli["rc"] != 0:
        raise RuntimeError(f"sequential ocb ingest failed: {cli['stdout']} {cli['stderr']}")


def run_concurrency(workdir: Path, rounds: int = 1, rows: int = 2000) -> dict[str, Any]:
    """`rounds` races, each compared with a sequential run of the same files. Returns the figures."""
    started = time.perf_counter()
    results = []
    for r in range(rounds):
        raced, baseline = Path(workdir) / f"race{r}", Path(workdir) / f"sequential{r}"
        outcome = race(raced, rows, seed=r * 10)
        sequential(baseline, rows, seed=r * 10)
        got = snapshot(raced / "data" / "warehouse.duckdb")
        want = snapshot(baseline / "data" / "warehouse.duckdb")
        outcome["state_equal"] = got == want
        outcome["rows"] = len(got["focus_raw"])
        outcome["rows_expected"] = len(want["focus_raw"])
        results.append(outcome)
    return {
        "rounds": rounds,
        "both_finished": sum(1 for o in results if o["cli_rc"] == 0 and o["sensor_ok"]),
        "state_equal": sum(1 for o in results if o["state_equal"]),
        "retries": sum(o["retries"]["cli"] + o["retries"]["sensor"] for o in results),
        "overlap_seconds": [o["overlap_seconds"] for o in results],
        "rows": sum(o["rows"] for o in results),
        "rows_lost": sum(max(0, o["rows_expected"] - o["rows"]) for o in results),
        "rows_doubled": sum(max(0, o["rows"] - o["rows_expected"]) for o in results),
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
