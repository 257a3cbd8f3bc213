"""The review desk on a generated month of a million lines: the queue filtered by reason (50 rows), the month page,
the page of the PI with the most lines, and a bulk approval by filter of every pending line.

    python benchmarks/desk_benchmark.py                  # 1,000,000 lines; the project is kept in --workdir
    python benchmarks/desk_benchmark.py --reuse          # measure again on the month imported before
    python benchmarks/desk_benchmark.py --rows 100000 --repeat 10 --workdir /tmp/desk_100k

The month is the file `ingest_benchmark.py` generates (tools/sample_data, seed 7; about 8% of its lines carry a
problem: no PI, a malformed fund, a name matching a review pattern, no tags ...), imported as `ocb ingest` does
(services.imports: a tagged ingest_job run) into `--workdir`/project with config.example.yaml's rules. The
imported warehouse is copied aside once; every run starts from that copy, so the bulk approval always finds the
whole queue pending.

Each step goes through the desk itself (a starlette TestClient on `create_app`, signed in as a reviewer) where the
desk has the page, else through the service function the page calls. The time quoted is server time: from the
request reaching the app to the last byte of its answer (an ASGI wrapper around the app), over `--repeat`
requests (p50, p95, max). The bulk approval is timed once per run: recording the decisions, then the rebuild of
the month (review_job: the decision state and charges_approved) as a run of its own.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MONTH = "2025-01"
REVIEWER, PASSWORD = "rita", "benchmark-pass-1"
QUEUE_TARGET_MS, BULK_TARGET_S = 300, 10


# ------------------------------------------------------------------------------------------------
# The month: generated once, imported once, copied aside
# ------------------------------------------------------------------------------------------------


def _settings(project: Path):
    from ocb_pipelines.core.config import load_config

    return load_config(project / "config.yaml")


def prepare(workdir: Path, rows: int, reuse: bool):
    """The project folder with the month imported and a reviewer; from the copy made after the import on reuse."""
    from ocb_pipelines.app import app_context
    from ocb_pipelines.services.imports import import_files, plan_import

    project, snapshot = workdir / "project", workdir / "imported"
    os.environ["DAGSTER_HOME"] = str(project / "data" / "dagster_home")
    if reuse and (snapshot / "warehouse.duckdb").is_file():
        settings = _settings(project)
        _restore(snapshot, settings.warehouse_path)
        _add_reviewer(settings)
        print(f"reused the month imported in {project}")
        return settings
    if workdir.exists() and any(workdir.iterdir()):
        raise SystemExit(f"{workdir} is not empty: pass --reuse to measure on it again, or remove it")
    (project / "data" / "inbox").mkdir(parents=True)
    shutil.copy(REPO / "config.example.yaml", project / "config.yaml")
    settings = _settings(project)
    sys.path.insert(0, str(HERE))
    from ingest_benchmark import _generated_file  # the same generated file as the import benchmark

    (HERE / "out").mkdir(exist_ok=True)
    csv_path = _generated_file(rows, "1.2")
    ctx = app_context(settings, actor="benchmark")
    t0 = time.perf_counter()
    summary = import_files(ctx, plan_import(ctx, [csv_path], source="aws"))
    if not summary["ok"]:
        raise SystemExit(f"the import failed: {summary.get('error')}")
    print(f"imported {summary['rows']:,} lines ({summary['flagged_rows']:,} flagged) through ingest_job in "
          f"{time.perf_counter() - t0:.1f} s")
    snapshot.mkdir()
    shutil.copy2(settings.warehouse_path, snapshot / settings.warehouse_path.name)
    _add_reviewer(settings)
    return settings


def _restore(snapshot: Path, warehouse: Path) -> None:
    shutil.copy2(snapshot / warehouse.name, warehouse)
    warehouse.with_name(warehouse.name + ".wal").unlink(missing_ok=True)


def _add_reviewer(settings) -> None:
    """A new desk file (no decision requests from an earlier run) with the reviewer who signs in."""
    from ocb_pipelines.services import desk_users

    path = desk_users.desk_file(settings)
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    desk_users.add_user(settings, REVIEWER, "reviewer", PASSWORD, display_name="Benchmark reviewer")


# ------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------


class ServerTimer:
    """ASGI wrapper: the seconds from a request reaching the app to the end of its answer's body (`last`), and the
    CPU seconds the process spent meanwhile (`last_cpu`: every DuckDB thread's too; on a shared machine the wall
    time stretches with the other load, the CPU time much less)."""

    def __init__(self, app):
        self.app, self.last, self.last_cpu = app, 0.0, 0.0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, cpu = time.perf_counter(), time.process_time()

        async def timed(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last, self.last_cpu = time.perf_counter() - start, time.process_time() - cpu

        return await self.app(scope, receive, timed)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (p95 of 30 values is the 29th)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))] if ordered else 0.0


def signed_in_client(settings):
    from fastapi.testclient import TestClient

    from ocb_pipelines.web.app import create_app

    timer = ServerTimer(create_app(settings))
    client = TestClient(timer, base_url="http://127.0.0.1")
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/login", data={"username": REVIEWER, "password": PASSWORD, "csrf_token": token,
                                         "next": "/"}, follow_redirects=False)
    if answer.status_code != 303:
        raise SystemExit(f"could not sign in as {REVIEWER}: {answer.status_code}")
    return timer, client


def repeated(label: str, repeat: int, call) -> tuple[list[float], list[float]]:
    """`call` `repeat` times after one warm-up; each returns its server seconds and CPU seconds."""
    call()
    runs = [call() for _ in range(repeat)]
    print(f"  {label}: " + ", ".join(f"{t * 1000:.0f}" for t, _ in runs) + " ms")
    return [t for t, _ in runs], [c for _, c in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, help="the project folder, kept for --reuse "
                                                     "(default: benchmarks/out/desk_<rows>)")
    parser.add_argument("--reuse", action="store_true", help="measure on the month imported in --workdir before")
    parser.add_argument("--repeat", type=int, default=30, help="requests per page step (after one warm-up)")
    parser.add_argument("--skip-bulk", action="store_true", help="only the pages (no bulk approval)")
    args = parser.parse_args()
    workdir = (args.workdir or HERE / "out" / f"desk_{args.rows}").resolve()
    os.environ.setdefault("OCB_ACTOR", "benchmark")
    settings = prepare(workdir, args.rows, args.reuse)
    results = run_steps(settings, args.repeat, args.skip_bulk)
    print_table(results)
    return 0 if all(r["met"] is not False for r in results) else 1


def run_steps(settings, repeat: int, skip_bulk: bool) -> list[dict[str, Any]]:
    """The pages before and after the bulk approval, and the bulk approval itself."""
    from ocb_pipelines.app import app_context
    from ocb_pipelines.services import review

    timer, client = signed_in_client(settings)
    ctx = app_context(settings, actor=REVIEWER, trigger="desk", lock_wait_seconds=0)
    reasons = review.review_queue(ctx, MONTH, limit=1).summary.pending_by_reason
    reason = reasons[0]["reason"]  # the largest
    counts = ", ".join(f"{r['reason']} {r['rows']:,}" for r in reasons)
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; pending by "
          f"reason: {counts}")

    def page(path: str):
        def call() -> tuple[float, float]:
            answer = client.get(path)
            if answer.status_code != 200:
                raise SystemExit(f"GET {path}: {answer.status_code}\n{answer.text[:2000]}")
            return timer.last, timer.last_cpu
        return call

    def measure(label: str, path: str, times: int, target_s: float | None = None) -> dict[str, Any]:
        wall, cpu = repeated(label, times, page(path))
        return _row(label, wall, target_s, cpu)

    queue_by_reason = f"/months/{MONTH}/review?reason={reason}"
    with ctx.connection() as con:  # the PI with the most lines: the heaviest PI page
        pi, pi_lines = con.execute("SELECT pi_email, count(*) FROM validated_lines WHERE billing_month = ? AND "
                                   "pi_email IS NOT NULL GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT 1", [MONTH]).fetchone()
    pi_page = f"/months/{MONTH}/pi?{urlencode({'email': pi})}"
    results = [
        measure(f"queue page, reason {reason}, 50 rows", queue_by_reason, repeat, QUEUE_TARGET_MS / 1000),
        measure("queue page, no filter, 50 rows", f"/months/{MONTH}/review", repeat),
        measure("month page", f"/months/{MONTH}", repeat),
        measure(f"PI page, the PI with the most lines ({pi_lines:,})", pi_page, repeat),
    ]
    if not skip_bulk:
        results += bulk_approval(timer, client, ctx)
        after = max(3, repeat // 3)
        results += [measure(f"after it: queue page, reason {reason}", queue_by_reason, after, QUEUE_TARGET_MS / 1000),
                    measure("after it: month page", f"/months/{MONTH}", after),
                    measure("after it: PI page", pi_page, after)]
    return results


class StepClock:
    """Wraps a service function the desk calls (by module attribute) to time its calls, changing nothing else."""

    def __init__(self, module, name: str):
        self.seconds, original = 0.0, getattr(module, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        setattr(module, name, timed)


def bulk_approval(timer, client, ctx) -> list[dict[str, Any]]:
    """Approve every pending line by filter (the whole queue) with the review page's form: the decisions are
    recorded in the request; the month's approved charges follow in a review_job run that the desk's background
    thread starts (services.desk_decisions.apply_queued, called here as that thread would)."""
    from ocb_pipelines.services import desk_decisions, review

    decide, rebuild = StepClock(review, "decide_charges"), StepClock(review, "rebuild_approved")
    page = client.get(f"/months/{MONTH}/review")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(f"/months/{MONTH}/review/decide", follow_redirects=False, data={
        "csrf_token": token, "decision": "approve", "note": "benchmark: the whole queue", "scope": "filter",
        "request_key": uuid.uuid4().hex})
    posted, posted_cpu = timer.last, timer.last_cpu
    if answer.status_code != 303:
        raise SystemExit(f"the bulk approval answered {answer.status_code}:\n{answer.text[:2000]}")
    t0 = time.perf_counter()
    desk_decisions.apply_queued(ctx)
    background = time.perf_counter() - t0
    result = client.get(answer.headers["location"])
    main = result.text[result.text.find("<h1"):result.text.find("</main>")]
    print(f"  bulk approval: {' '.join(re.sub(r'<[^>]+>', ' ', main).split())[:700]}")
    return [_row("bulk approval by filter, whole queue: the form POST", [posted], BULK_TARGET_S, [posted_cpu]),
            _row("  of which: recording the decisions (decide_charges)", [decide.seconds], None),
            _row("then, in the background: the rebuild (review_job run)", [background], None),
            _row("  of which: the run (rebuild_approved)", [rebuild.seconds], None)]


def _row(label: str, times: list[float], target_s: float | None, cpu: list[float] | None = None) -> dict[str, Any]:
    p95 = percentile(times, 95)
    return {"step": label, "n": len(times), "p50": percentile(times, 50), "p95": p95, "max": max(times),
            "cpu_p50": percentile(cpu, 50) if cpu else None,
            "target": target_s, "met": None if target_s is None else p95 < target_s}


def print_table(results: list[dict[str, Any]]) -> None:
    def fmt(seconds: float) -> str:
        return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"

    print("\n| step | n | p50 | p95 | max | CPU p50 | target | met? |\n|---|---|---|---|---|---|---|---|")
    for r in results:
        target = "" if r["target"] is None else f"< {fmt(r['target'])}" + (" (p95)" if r["n"] > 1 else "")
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        cpu = "" if r["cpu_p50"] is None else fmt(r["cpu_p50"])
        print(f"| {r['step']} | {r['n']} | {fmt(r['p50'])} | {fmt(r['p95'])} | {fmt(r['max'])} | {cpu} | {target} "
              f"| {met} |")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    raise SystemExit(main())
