"""Reliability figures: bad input, reader fuzz, kill loops, inbox load and CLI/sensor concurrency.

    python benchmarks/reliability.py            # the long run (documented in README "Reliability")
    python benchmarks/reliability.py --quick    # a short run of every part (a few minutes)
    python benchmarks/reliability.py --json out.json --keep DIR

Prints one table: inputs tried and clearly refused, fuzz examples, faults injected (SIGKILLs during import,
render, send), files under load, and rows, money and emails lost or doubled across every part. Exits 1 if
anything was lost or doubled, an input was not refused clearly, the warehouse changed under bad input, the
fuzz met an unhandled exception, or the concurrent runs did not both finish with the sequential result.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # ocb_pipelines_tests is not installed: import it from the tree

PLANS = {
    # part: (quick, long)
    "fuzz_examples": (50, 300),
    "fault_iterations": (1, 2),
    "load": ({"files": 20, "months": 3, "sources": 5}, {"files": 200, "months": 12, "sources": 5}),
    "concurrency_rounds": (1, 2),
}


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def run(workdir: Path, quick: bool, seed: int) -> dict[str, Any]:
    from ocb_pipelines_tests.reliability.concurrency import run_concurrency
    from ocb_pipelines_tests.reliability.corpus import run_bad_inputs, run_reader_fuzz
    from ocb_pipelines_tests.reliability.load import run_load

    pick = 0 if quick else 1
    out: dict[str, Any] = {"mode": "quick" if quick else "long", "seed": seed}
    parts: list[tuple[str, Any]] = [
        ("bad_inputs", lambda: run_bad_inputs(workdir / "bad_inputs")),
        ("fuzz", lambda: run_reader_fuzz(workdir / "fuzz", PLANS["fuzz_examples"][pick], seed)),
        ("faults", lambda: _faults(workdir / "faults", PLANS["fault_iterations"][pick], seed)),
        ("load", lambda: run_load(workdir / "load", seed=seed, **PLANS["load"][pick])),
        ("concurrency", lambda: run_concurrency(workdir / "concurrency", rounds=PLANS["concurrency_rounds"][pick])),
    ]
    for name, part in parts:
        started = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        try:
            out[name] = part()
        except Exception as exc:  # a part that crashes is reported and fails the run; the others still run
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        out[name].setdefault("seconds", round(time.perf_counter() - started, 1))
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {out[name]['seconds']} s", file=sys.stderr, flush=True)
    return out


def _faults(workdir: Path, iterations: int, seed: int) -> dict[str, Any]:
    try:
        from ocb_pipelines_tests.reliability.faults import run_fault_campaign
    except ImportError as exc:
        return {"error": f"fault campaign not available: {exc}"}
    return run_fault_campaign(workdir, iterations, seed)


def summarise(fig: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """Table rows (label, value) and the problems that make the run fail."""
    bad, fuzz, faults, load, conc = (fig.get(k, {}) for k in ("bad_inputs", "fuzz", "faults", "load", "concurrency"))
    problems = [f"{name}: {part['error']}" for name, part in fig.items() if isinstance(part, dict) and "error" in part]
    lost = {
        "rows_lost": int(faults.get("rows_lost", 0)) + int(load.get("rows_lost", 0)) + int(conc.get("rows_lost", 0)),
        "rows_doubled": int(faults.get("rows_doubled", 0)) + int(load.get("rows_doubled", 0))
        + int(conc.get("rows_doubled", 0)),
        "money_lost": _dec(faults.get("money_lost")) + _dec(load.get("money_lost")),
        "money_doubled": _dec(faults.get("money_doubled")) + _dec(load.get("money_doubled")),
        "emails_lost": int(faults.get("emails_lost", 0)),
        "emails_doubled": int(faults.get("emails_doubled", 0)),
        "files_half_written": int(faults.get("files_half_written", 0)),
        "files_lost_or_doubled": int(faults.get("files_lost", 0)) + int(faults.get("files_doubled", 0)),
    }
    problems += [f"{k} = {v}" for k, v in lost.items() if v]
    if bad and "error" not in bad:
        if bad["clear_errors"] + bad["tags_to_review"] != bad["inputs"]:
            problems.append(f"bad inputs: {bad['inputs'] - bad['clear_errors'] - bad['tags_to_review']} unclear")
        problems += bad["failures"]  # unclear errors and changed warehouses, one line each
    if fuzz and "error" not in fuzz and fuzz["unhandled"]:
        problems += [f"fuzz: {f}" for f in fuzz["failures"]]
    if faults and "error" not in faults:
        problems += [f"faults: {m}" for m in faults.get("mismatches", [])]
    if load and "error" not in load and (
            load["runs_failed"] or not load["by_month_source_equal"] or load["duplicates_doubled"]):
        problems.append("load: a run failed or the totals by month and source differ")
    if conc and "error" not in conc and (conc["both_finished"] != conc["rounds"]
                                         or conc["state_equal"] != conc["rounds"]):
        problems.append("concurrency: a run did not finish, or the end state differs from a sequential run")
    rows = [
        ("bad inputs tried / refused clearly / warehouse unchanged",
         f"{bad.get('inputs', '-')} / {bad.get('clear_errors', 0) + bad.get('tags_to_review', 0)} / "
         f"{bad.get('warehouse_unchanged', '-')} (+{bad.get('tags_to_review', '-')} bad Tags sent to review)"),
        ("reader fuzz examples (imported / refused / unhandled)",
         f"{fuzz.get('examples', '-')} ({fuzz.get('imported', '-')} / {fuzz.get('refused', '-')} / "
         f"{fuzz.get('unhandled', '-')})"),
        ("faults injected (SIGKILL import / render / send)",
         f"{faults.get('faults_injected', '-')} ({faults.get('kills_import', '-')} / {faults.get('kills_render', '-')}"
         f" / {faults.get('kills_send', '-')}) in {faults.get('trials', '-')} trials"),
        ("files under load (months x sources; copies; multi-month)",
         f"{load.get('files', '-')} ({load.get('months', '-')} x {load.get('sources', '-')}; "
         f"{load.get('files_duplicate', '-')}; {load.get('files_multi_month', '-')}) in {load.get('runs', '-')} "
         f"sensor runs"),
        ("rows under load expected / imported", f"{load.get('rows_expected', '-')} / {load.get('rows_imported', '-')}"),
        ("money under load expected / imported",
         f"{load.get('money_expected', '-')} / {load.get('money_imported', '-')}"),
        ("CLI + sensor run at once: both finished / same as sequential",
         f"{conc.get('both_finished', '-')} / {conc.get('state_equal', '-')} of {conc.get('rounds', '-')} "
         f"(overlap s: {conc.get('overlap_seconds', '-')}, lock retries {conc.get('retries', '-')})"),
        *((k.replace("_", " "), str(v)) for k, v in lost.items()),
        ("seconds (bad / fuzz / faults / load / concurrency)",
         " / ".join(str(p.get("seconds", "-")) for p in (bad, fuzz, faults, load, conc))),
    ]
    return rows, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run of every part")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = run(args.keep, args.quick, args.seed)
    else:
        with tempfile.TemporaryDirectory(prefix="ocb-reliability-") as tmp:
            figures = run(Path(tmp), args.quick, args.seed)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    rows, problems = summarise(figures)
    width = max(len(label) for label, _ in rows)
    print(f"ocb reliability ({figures['mode']}, seed {args.seed}, {figures['seconds']} s)")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    if problems:
        print("FAILED:", *problems, sep="\n  - ")
        return 1
    print("OK: nothing lost or doubled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
