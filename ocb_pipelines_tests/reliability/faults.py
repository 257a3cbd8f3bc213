"""Fault injection for the month-end steps: SIGKILL `ocb ingest`, `ocb generate` and `ocb send` mid-way, retry,
and compare with an uninterrupted run.

Plain functions (no pytest), so `test_faults.py` and `benchmarks/reliability.py` share them. Everything is
real: the `ocb` console entry point runs in a subprocess (its own process group, killed with SIGKILL), on a
real DuckDB file, a real Dagster instance, real WeasyPrint PDFs and a real SMTP server (aiosmtpd on 127.0.0.1)
that keeps every message it receives.

Where a kill lands is chosen from a seeded RNG, mostly by waiting for an observable progress condition:
the warehouse's WAL appearing (an import transaction is writing), the number of PDFs written, the number of
messages the SMTP server accepted, or the SMTP command being served (MAIL: the delivery intent is committed but
nothing was delivered; DATA: the server has the message but the sender has not logged it).

The state after "kill, kill, ..., retry until success" is compared with the reference run's: warehouse rows by
identity (charge ids, file rows), exact DECIMAL totals per table and month, statement content hashes, output
files (names, bytes where they are deterministic, integrity against the recorded sha256, no temp files, PDFs
that parse), and emails received (per recipient and content, and per Message-ID). An "uncertain" delivery (a
kill between the intent and the log update) is resolved as the product tells an operator to: look for its
Message-ID in the server's log; if it is not there, `ocb resend`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

import ocb_pipelines
from ocb_pipelines_tests.reliability.reconciliation import findings
from ocb_pipelines_tests.smtp import SmtpController, free_port

REPO = Path(ocb_pipelines.__file__).resolve().parents[1]
MONTH = "2025-01"
ACTOR = "fault-campaign"
# (source, FOCUS version, format): five sources, four versions, three formats, as real exports come.
FILES = (("aws", "1.2", "csv"), ("azure", "1.0", "csv.gz"), ("gcp", "1.3", "parquet"), ("hpc", "1.1", "csv"),
         ("storage", "1.0", "csv"))
ROWS_PER_FILE = 400
STEPS = ("import", "render", "send")
RUN_TIMEOUT = 300.0

# ------------------------------------------------------------------------------------------------
# The SMTP server
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    message_id: str
    recipient: str
    content_key: str
    month: str


class SmtpSink:
    """aiosmtpd on 127.0.0.1 that keeps every message it accepts.

    `reject`: addresses refused at RCPT with 550. `hook(phase, n)`: called in the server's thread at MAIL
    (phase "mail", n = messages accepted so far) and at DATA after the message is stored but before "250"
    is answered (phase "data", n = messages including this one): the fault harness kills the sender there.
    """

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.reject: set[str] = set()
        self.hook: Callable[[str, int], None] | None = None
        self._cond = threading.Condition()
        self.port = free_port()
        self._controller = SmtpController(self, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def clear(self) -> None:
        with self._cond:
            self.messages = []

    def count(self) -> int:
        with self._cond:
            return len(self.messages)

    def snapshot(self) -> list[Received]:
        with self._cond:
            return list(self.messages)

    def has(self, message_id: str) -> bool:
        return any(m.message_id == message_id for m in self.snapshot())

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.hook:
            self.hook("mail", self.count())
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable (refused by the test server)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._cond:
            for rcpt in envelope.rcpt_tos:
                self.messages.append(Received(str(msg["Message-ID"]).strip(), rcpt.lower(),
                                              str(msg["X-OCB-Content-Key"]).strip(),  # folded: leading blank
                                              str(msg["X-OCB-Billing-Month"]).strip()))
            n = len(self.messages)
            self._cond.notify_all()
        if self.hook:
            self.hook("data", n)
            await asyncio.sleep(0)
        return "250 OK"


def closed_port() -> int:
    """A loopback port where nothing listens (connection refused)."""
    return free_port()


# ------------------------------------------------------------------------------------------------
# Running `ocb`
# ------------------------------------------------------------------------------------------------


@dataclass
class RunOutcome:
    args: list[str]
    returncode: int
    killed: bool
    seconds: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def ocb_env(run_dir: Path, smtp_port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OCB_CONFIG", "DAGSTER_HOME")}
    env.update(DAGSTER_HOME=str(run_dir / "dagster_home"), OCB_ACTOR=ACTOR, OCB_SMTP_PORT=str(smtp_port),
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
               PYTHONWARNINGS="ignore")
    env.update(extra or {})
    return env


def ocb_command(run_dir: Path, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "ocb_pipelines.cli.main", *args, "-c", str(run_dir / "config.yaml")]


def start_ocb(run_dir: Path, args: list[str], smtp_port: int, *, env: dict[str, str] | None = None,
              preexec: Callable[[], None] | None = None) -> tuple[subprocess.Popen, Path]:
    logs = run_dir.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stem = logs / f"{time.time_ns()}"
    with open(f"{stem}.out", "wb") as out, open(f"{stem}.err", "wb") as err:  # the child keeps its own copies
        proc = subprocess.Popen(
            ocb_command(run_dir, args), cwd=run_dir, env=ocb_env(run_dir, smtp_port, env), start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, preexec_fn=preexec,
        )
    return proc, stem


def kill_group(proc: subprocess.Popen) -> bool:
    """SIGKILL the run's whole process group (the CLI and its PDF workers). True if it was still running."""
    alive = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return alive


def run_ocb(run_dir: Path, args: list[str], smtp_port: int, *, kill_when: Callable[[float], bool] | None = None,
            env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None,
            timeout: float = RUN_TIMEOUT, on_start: Callable[[subprocess.Popen], None] | None = None) -> RunOutcome:
    """Run `ocb ARGS -c run_dir/config.yaml`; SIGKILL it as soon as `kill_when(seconds since start)` is true."""
    started = time.monotonic()
    proc, stem = start_ocb(run_dir, args, smtp_port, env=env, preexec=preexec)
    if on_start:
        on_start(proc)
    killed = False
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                kill_group(proc)
                proc.wait()
                raise TimeoutError(f"`ocb {' '.join(args)}` did not finish in {timeout:.0f} s")
            if kill_when is not None and kill_when(elapsed):
                killed = kill_group(proc)
                break
            time.sleep(0.01)
        proc.wait()
    finally:
        if proc.poll() is None:
            kill_group(proc)
            proc.wait()
    _reap_group(proc.pid)
    killed = killed or proc.returncode == -signal.SIGKILL
    out = Path(f"{stem}.out").read_text(errors="replace")
    err = Path(f"{stem}.err").read_text(errors="replace")
    return RunOutcome(args, proc.returncode, killed, time.monotonic() - started, out, err)


def _reap_group(pgid: int, timeout: float = 10.0) -> None:
    """Wait until no process of the group is left (PDF workers die with their parent's pipes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def only_uncertain_left(outcome: RunOutcome) -> bool:
    """`ocb send` exits 1 while deliveries are uncertain: they wait for the operator (resolve_uncertain), not
    for another send. True when that is all that is left."""
    found = re.search(r": \d+ PI\(s\): \d+ delivered, (\d+) uncertain, (\d+) failed, (\d+) not sent", outcome.stdout)
    return (not outcome.killed and outcome.returncode == 1 and found is not None
            and int(found[1]) > 0 and found[2] == found[3] == "0")


def run_ok(run_dir: Path, args: list[str], smtp_port: int, **kwargs: Any) -> RunOutcome:
    outcome = run_ocb(run_dir, args, smtp_port, **kwargs)
    if not outcome.ok:
        raise RuntimeError(f"`ocb {' '.join(args)}` exited {outcome.returncode}:\n{outcome.stdout[-2000:]}\n"
                           f"{outcome.stderr[-3000:]}")
    return outcome


# ------------------------------------------------------------------------------------------------
# The month: files, review, close
# ------------------------------------------------------------------------------------------------


def write_config(run_dir: Path) -> Path:
    """The example configuration, sending through SMTP on 127.0.0.1:$OCB_SMTP_PORT without TLS."""
    config = yaml.safe_load((REPO / "config.example.yaml").read_text())
    config["dev_mode"] = False
    config["smtp"] = {"host": "127.0.0.1", "port": "${OCB_SMTP_PORT}", "use_tls": False, "timeout_seconds": 10}
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def input_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "files").iterdir())


def make_inputs(run_dir: Path, rows: int = ROWS_PER_FILE, seed: int = 7) -> list[Path]:
    from tools.sample_data.generator import generate_focus_file

    out = []
    for k, (source, version, fmt) in enumerate(FILES):
        ext = {"csv": "csv", "csv.gz": "csv.gz", "parquet": "parquet"}[fmt]
        out.append(generate_focus_file(run_dir / "files" / f"{source}_{MONTH}.{ext}", source=source, months=[MONTH],
                                       rows=rows, version=version, fmt=fmt, seed=seed * 10 + k))
    return out


CLOSE_MONTH = """
import sys
from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import load_config
from ocb_pipelines.services.demo import review_and_close_sample_month

settings, month = load_config(sys.argv[1]), sys.argv[2]
review = review_and_close_sample_month(app_context(settings, actor="fault-campaign"), month)
if review.status != "closed":
    sys.exit(f"{month} is {review.status}, not closed")
"""


def review_and_close(run_dir: Path, smtp_port: int) -> None:
    """The reviewer's part (sample decisions), then close the month: what `ocb demo` does, in a subprocess."""
    env = ocb_env(run_dir, smtp_port)
    done = subprocess.run([sys.executable, "-c", CLOSE_MONTH, str(run_dir / "config.yaml"), MONTH], cwd=run_dir,
                          env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if done.returncode:
        raise RuntimeError(f"review and close failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def step_args(step: str, run_dir: Path) -> list[str]:
    if step == "import":
        return ["ingest", *map(str, input_files(run_dir)), "-p", MONTH, "--init"]  # the first run creates it
    if step == "render":
        return ["generate", "-p", MONTH]
    if step == "send":
        return ["send", "-p", MONTH]
    raise ValueError(step)


# ------------------------------------------------------------------------------------------------
# State: what the warehouse, the output folder and the SMTP server hold
# ------------------------------------------------------------------------------------------------


def warehouse_path(run_dir: Path) -> Path:
    return run_dir / "data" / "warehouse.duckdb"


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


# table -> (identity SQL, money SQL or None); every row is identified, and counted by identity
IDENTITY = {
    "import_files": ("concat_ws('|', source, file_name, billing_month, file_sha256, row_count, billed_total)",
                     "billed_total"),
    "focus_raw": ("concat_ws('|', source, file_name, file_row_number)", 'CAST("BilledCost" AS DECIMAL(38, 12))'),
    "charges_validated": ("concat_ws('|', charge_id, row_hash)", "billed_cost"),
    "charges_approved": ("concat_ws('|', charge_id, review_status, pi_email, project_id, fund_org)", "billed_cost"),
    "review_decisions": ("concat_ws('|', charge_id, decision)", None),
    "statements": ("concat_ws('|', pi_email, project_id, content_sha256, csv_sha256, pdf_path)", "billed_total"),
    "statement_fund_shares": ("concat_ws('|', pi_email, project_id, fund_org, share_percent, billed_total)",
                              "billed_total"),
}


@dataclass
class State:
    rows: dict[str, Counter] = field(default_factory=dict)  # table -> Counter(identity)
    money: dict[str, Decimal] = field(default_factory=dict)  # "table month" -> exact total
    periods: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # path under data/output -> sha256
    temp_files: list[str] = field(default_factory=list)
    damaged_files: list[str] = field(default_factory=list)  # recorded sha256 differs, or not a whole PDF
    unrecorded_files: list[str] = field(default_factory=list)  # statement files no statement row names
    deliveries: list[dict[str, Any]] = field(default_factory=list)


def capture_state(run_dir: Path) -> State:
    state = State()
    db = warehouse_path(run_dir)
    recorded: dict[str, str] = {}
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        try:
            tables = _tables(con)
            for table, (identity, money) in IDENTITY.items():
                if table not in tables:
                    continue
                rows = con.execute(f"SELECT billing_month, {identity}, {money or 'NULL'} FROM {table}").fetchall()
                state.rows[table] = Counter(f"{m}|{i}" for m, i, _ in rows)
                if money:
                    for m, _, amount in rows:
                        key = f"{table} {m}"
                        state.money[key] = state.money.get(key, Decimal(0)) + Decimal(amount or 0)
            if "billing_periods" in tables:
                state.periods = dict(con.execute("SELECT period, status FROM billing_periods").fetchall())
            if "statements" in tables:
                for pdf, pdf_sha, csv_path, csv_sha in con.execute(
                        "SELECT pdf_path, pdf_sha256, csv_path, csv_sha256 FROM statements").fetchall():
                    recorded[pdf], recorded[csv_path] = pdf_sha, csv_sha
            if "delivery_log" in tables:
                cols = ("recipient", "content_key", "attempt", "message_id", "status", "resend", "error")
                state.deliveries = [dict(zip(cols, r, strict=True)) for r in con.execute(
                    f"SELECT {', '.join(cols)} FROM delivery_log ORDER BY delivery_id").fetchall()]
        finally:
            con.close()
    out = run_dir / "data" / "output"
    for path in sorted(out.rglob("*")) if out.is_dir() else []:
        if not path.is_file():
            continue
        rel = str(path.relative_to(out))
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            state.temp_files.append(rel)
            continue
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        state.files[rel] = sha
        if path.suffix == ".pdf" and not (data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")):
            state.damaged_files.append(rel)
        if rel.startswith("statements/"):
            if str(path) not in recorded:
                state.unrecorded_files.append(rel)
            elif recorded[str(path)] != sha:
                state.damaged_files.append(rel)
    return state


def statements_recorded(run_dir: Path) -> int:
    """Rows in `statements` (0 when the table does not exist yet)."""
    con = duckdb.connect(str(warehouse_path(run_dir)), read_only=True)
    try:
        if "statements" not in _tables(con):
            return 0
        return int(con.execute("SELECT count(*) FROM statements").fetchall()[0][0])
    finally:
        con.close()


def _pdf_reads(path: Path) -> bool:
    from pypdf import PdfReader

    try:
        return all(page.extract_text() is not None for page in PdfReader(path).pages)
    except Exception:
        return False


def compare(reference: State, trial: State, run_dir: Path | None = None) -> dict[str, Any]:
    """Lost and doubled rows (by identity), money (exact, per table and month) and files; other differences."""
    figures: dict[str, Any] = {"rows_lost": 0, "rows_doubled": 0, "money_lost": Decimal(0),
                               "money_doubled": Decimal(0), "files_half_written": 0, "files_lost": 0,
                               "files_doubled": 0, "mismatches": []}
    for table in sorted(set(reference.rows) | set(trial.rows)):
        ref, got = reference.rows.get(table, Counter()), trial.rows.get(table, Counter())
        lost, doubled = sum((ref - got).values()), sum((got - ref).values())
        figures["rows_lost"] += lost
        figures["rows_doubled"] += doubled
        if lost or doubled:
            figures["mismatches"].append(f"{table}: {lost} row(s) lost, {doubled} row(s) extra or doubled")
    for key in sorted(set(reference.money) | set(trial.money)):
        diff = trial.money.get(key, Decimal(0)) - reference.money.get(key, Decimal(0))
        if diff > 0:
            figures["money_doubled"] += diff
        elif diff < 0:
            figures["money_lost"] -= diff
        if diff:
            figures["mismatches"].append(f"{key}: total differs by {diff}")
    if trial.periods != reference.periods:
        figures["mismatches"].append(f"periods {trial.periods} != {reference.periods}")
    # PDFs carry their render time, so their bytes differ between runs: names must match, and each must be
    # whole and be the file its statement row records. Every other file must match byte for byte.
    half = set(trial.temp_files) | set(trial.damaged_files) | set(trial.unrecorded_files)
    if run_dir is not None:
        out = run_dir / "data" / "output"
        half |= {rel for rel in trial.files if rel.endswith(".pdf") and not _pdf_reads(out / rel)}
    figures["files_half_written"] = len(half)
    if half:
        figures["mismatches"].append(f"half-written, temp or unrecorded files: {sorted(half)[:5]}")
    lost = sorted(set(reference.files) - set(trial.files))
    extra = sorted(set(trial.files) - set(reference.files))
    differ = sorted(rel for rel in set(reference.files) & set(trial.files)
                    if not rel.endswith(".pdf") and reference.files[rel] != trial.files[rel])
    figures["files_lost"], figures["files_doubled"] = len(lost), len(extra)
    if lost or extra or differ:
        figures["mismatches"].append(f"files lost {lost[:3]}, extra {extra[:3]}, different bytes {differ[:3]}")
        figures["files_half_written"] += len(differ)
    return figures


def compare_emails(reference: list[Received], trial: list[Received]) -> dict[str, Any]:
    """Per (recipient, content): each delivered exactly as often as in the reference run (once); per
    Message-ID: never twice."""
    ref = Counter((m.recipient, m.content_key) for m in reference)
    got = Counter((m.recipient, m.content_key) for m in trial)
    by_id = Counter(m.message_id for m in trial)
    lost, doubled = sum((ref - got).values()), sum((got - ref).values())
    same_id = sum(n - 1 for n in by_id.values() if n > 1)
    return {"emails_lost": lost, "emails_doubled": doubled + same_id, "emails_received": len(trial)}


def delivery_log_consistent(state: State, delivered: list[Received]) -> list[str]:
    """Every delivered (recipient, content) is logged as sent, or as uncertain with a Message-ID the server has."""
    ids = {m.message_id for m in delivered}
    problems = []
    for m in {(m.recipient, m.content_key) for m in delivered}:
        rows = [d for d in state.deliveries if (d["recipient"].lower(), d["content_key"]) == m]
        if not any(d["status"] == "sent" or (d["status"] in ("sending", "unknown") and d["message_id"] in ids)
                   for d in rows):
            problems.append(f"delivery_log does not account for the email to {m[0]}")
    return problems


# ------------------------------------------------------------------------------------------------
# Stages and the reference run
# ------------------------------------------------------------------------------------------------


@dataclass
class Stages:
    """Snapshots of the work folder before each step, the reference state after it, and its duration.

    Every run happens in the same folder (`run_dir`): the warehouse records absolute paths of files."""

    workdir: Path
    run_dir: Path
    before: dict[str, Path] = field(default_factory=dict)
    after: dict[str, State] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    emails: list[Received] = field(default_factory=list)
    statements: int = 0
    recipients: int = 0


def snapshot(run_dir: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run_dir, target, symlinks=True)
    return target


def restore(source: Path, run_dir: Path) -> None:
    if run_dir.exists():
        shutil.rmtree(run_dir)
    shutil.copytree(source, run_dir, symlinks=True)


def prepare(workdir: Path, sink: SmtpSink, rows: int = ROWS_PER_FILE) -> Stages:
    """Build the month once, uninterrupted, keeping a snapshot before each step and the state after it."""
    workdir = Path(workdir)
    run_dir = workdir / "run"
    stages = Stages(workdir, run_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "data").mkdir(parents=True)
    write_config(run_dir)
    make_inputs(run_dir, rows)
    for step in STEPS:
        if step == "render":
            review_and_close(run_dir, sink.port)
        stages.before[step] = snapshot(run_dir, workdir / "stages" / f"before_{step}")
        sink.clear()
        outcome = run_ok(run_dir, step_args(step, run_dir), sink.port)
        stages.seconds[step] = outcome.seconds
        stages.after[step] = capture_state(run_dir)
    stages.emails = sink.snapshot()
    stages.statements = sum(1 for f in stages.after["render"].files if f.endswith(".pdf"))
    stages.recipients = len({m.recipient for m in stages.emails})
    return stages


# ------------------------------------------------------------------------------------------------
# Kill points
# ------------------------------------------------------------------------------------------------


def after(seconds: float) -> Callable[[float], bool]:
    return lambda elapsed: elapsed >= seconds


def when_wal_exists(run_dir: Path, then: float = 0.0) -> Callable[[float], bool]:
    """Once this run writes the warehouse's write-ahead log (a transaction is committing), wait `then` seconds.
    A WAL left by an earlier killed run does not count until it changes."""
    wal = Path(f"{warehouse_path(run_dir)}.wal")

    def signature() -> tuple[int, int] | None:
        try:
            stat = wal.stat()
        except FileNotFoundError:
            return None
        return (stat.st_size, stat.st_mtime_ns) if stat.st_size else None

    initial = signature()
    seen: list[float] = []

    def check(elapsed: float) -> bool:
        if not seen:
            now = signature()
            if now is not None and now != initial:
                seen.append(elapsed)
        return bool(seen) and elapsed >= seen[0] + then

    return check


def when_pdfs_written(run_dir: Path, count: int, then: float = 0.0) -> Callable[[float], bool]:
    """Once `count` PDFs were written by this run (newer than its start), wait `then` seconds."""
    folder = run_dir / "data" / "output" / "statements" / MONTH
    start = time.time_ns()
    seen: list[float] = []

    def check(elapsed: float) -> bool:
        if not seen:
            try:
                fresh = sum(1 for p in folder.glob("*.pdf") if p.stat().st_mtime_ns >= start)
            except FileNotFoundError:
                fresh = 0
            if fresh >= count:
                seen.append(elapsed)
        return bool(seen) and elapsed >= seen[0] + then

    return check


def when_messages(sink: SmtpSink, count: int, then: float = 0.0) -> Callable[[float], bool]:
    """Once the server has accepted `count` messages in all, wait `then` seconds."""
    seen: list[float] = []

    def check(elapsed: float) -> bool:
        if not seen and sink.count() >= count:
            seen.append(elapsed)
        return bool(seen) and elapsed >= seen[0] + then

    return check


class KillInServer:
    """Kill the sender from inside the SMTP server: at MAIL of message n+1 (intent committed, nothing delivered)
    or during DATA of message n, after the server stored it and before it answers 250 (delivered, not logged)."""

    def __init__(self, sink: SmtpSink, phase: str, count: int):
        self.sink, self.phase, self.count = sink, phase, count
        self.proc: subprocess.Popen | None = None
        self.fired = False

    def attach(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.sink.hook = self._hook

    def _hook(self, phase: str, n: int) -> None:
        if self.fired or phase != self.phase or self.proc is None:
            return
        if (phase == "mail" and n >= self.count) or (phase == "data" and n >= self.count):
            self.fired = True
            kill_group(self.proc)

    def detach(self) -> None:
        self.sink.hook = None


# ------------------------------------------------------------------------------------------------
# One trial: kills, retry, resolve, compare
# ------------------------------------------------------------------------------------------------


@dataclass
class KillPoint:
    """Where to kill: `kind` is delay | wal | pdfs | messages | server-mail | server-data."""

    kind: str
    value: float = 0
    then: float = 0.0

    def describe(self) -> str:
        return f"{self.kind}({self.value:g}{f', +{self.then:.2f}s' if self.then else ''})"


def random_kill_point(step: str, rng: random.Random, stages: Stages, delivered: int = 0) -> KillPoint:
    """A kill point for the next run of `step`; `delivered`: recipients the server already has in this trial."""
    if step == "import":
        if rng.random() < 0.5:
            return KillPoint("delay", round(rng.uniform(0.2, 0.6 * stages.seconds["import"]), 2))  # retries are shorter
        return KillPoint("wal", 0, round(rng.uniform(0.0, 1.5), 2))
    if step == "render":
        if rng.random() < 0.2:
            return KillPoint("delay", round(rng.uniform(0.2, 0.9 * stages.seconds["render"]), 2))
        return KillPoint("pdfs", rng.randint(0, max(0, stages.statements - 1)), round(rng.uniform(0.0, 0.3), 3))
    remaining = max(1, stages.recipients - delivered)
    k = rng.randint(0, remaining - 1)
    roll = rng.random()
    if roll < 0.3:
        return KillPoint("server-mail", k)
    if roll < 0.6:
        return KillPoint("server-data", k + 1)
    if roll < 0.9:
        return KillPoint("messages", k, round(rng.uniform(0.0, 0.05), 3))
    return KillPoint("delay", round(rng.uniform(0.2, stages.seconds["send"]), 2))


def run_with_kill(stages: Stages, sink: SmtpSink, step: str, point: KillPoint) -> RunOutcome:
    run_dir = stages.run_dir
    base = sink.count()  # message counts are relative to this run's start
    server: KillInServer | None = None
    kill_when: Callable[[float], bool] | None
    if point.kind == "delay":
        kill_when = after(point.value)
    elif point.kind == "wal":
        kill_when = when_wal_exists(run_dir, point.then)
    elif point.kind == "pdfs":
        kill_when = when_pdfs_written(run_dir, int(point.value), point.then)
    elif point.kind == "messages":
        kill_when = when_messages(sink, base + int(point.value), point.then)
    elif point.kind in ("server-mail", "server-data"):
        server = KillInServer(sink, point.kind.split("-")[1], base + int(point.value))
        kill_when = None
    else:
        raise ValueError(point.kind)
    try:
        return run_ocb(run_dir, step_args(step, run_dir), sink.port, kill_when=kill_when,
                       on_start=server.attach if server else None)
    finally:
        if server:
            server.detach()


def resolve_uncertain(stages: Stages, sink: SmtpSink) -> dict[str, int]:
    """What an operator does with the deliveries `ocb send` reports as uncertain: look for the Message-ID in
    the mail server's log; delivered -> `ocb deliveries confirm`; not there -> `ocb resend --pi ... --reason ...`.
    Until then `ocb send` exits 1 (only_uncertain_left)."""
    state = capture_state(stages.run_dir)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    done: set[tuple[str, str]] = set()
    for d in state.deliveries:
        key = (d["recipient"], d["content_key"])
        latest[key] = d
        if d["status"] == "sent":
            done.add(key)
    figures = {"uncertain_deliveries": 0, "uncertain_found_delivered": 0, "uncertain_deliveries_resolved": 0}
    for key, d in sorted(latest.items()):
        if key in done or d["status"] not in ("sending", "unknown"):
            continue
        figures["uncertain_deliveries"] += 1
        if sink.has(d["message_id"]):
            figures["uncertain_found_delivered"] += 1
            run_ok(stages.run_dir, ["deliveries", "confirm", "-p", MONTH, "--message-id", d["message_id"], "--reason",
                                    "fault campaign: found in the mail server's log"], sink.port)
            continue
        run_ok(stages.run_dir, ["resend", "-p", MONTH, "--pi", d["recipient"], "--reason",
                                f"fault campaign: {d['message_id']} is not in the mail server's log"], sink.port)
        figures["uncertain_deliveries_resolved"] += 1
    return figures


def trial(stages: Stages, sink: SmtpSink, step: str, points: list[KillPoint | Callable[[], KillPoint]],
          max_retries: int = 10) -> dict[str, Any]:
    """Restore the state before `step`, run it killed at each point in turn (a callable is asked for its point
    just before its run), retry until it succeeds, and compare with the reference. Returns figures (kills =
    runs that really were killed)."""
    restore(stages.before[step], stages.run_dir)
    sink.clear()
    kills, log, unreconciled, checks, unvalidated = 0, [], [], 0, 0
    for planned in points:
        point = planned() if callable(planned) else planned
        outcome = run_with_kill(stages, sink, step, point)
        kills += outcome.killed
        # After every kill: each month reconciles to the cent (an open one may await validation: a kill between
        # an import and its validation, which the retry's validation completes and every guard refuses until then).
        db = warehouse_path(stages.run_dir)
        checks += 1
        unreconciled += [f"after {point.describe()}: {m}" for m in findings(db, open_may_need_validation=True)]
        unvalidated += len(findings(db)) - len(findings(db, open_may_need_validation=True))
        log.append(f"{point.describe()}: {'killed' if outcome.killed else f'finished rc={outcome.returncode}'}"
                   f" after {outcome.seconds:.1f}s")
        if not outcome.killed and not outcome.ok and not (step == "send" and only_uncertain_left(outcome)):
            raise RuntimeError(f"`ocb {step}` failed without a kill:\n{outcome.stdout[-1500:]}\n"
                               f"{outcome.stderr[-3000:]}")
    retries = 0
    while True:
        retries += 1
        outcome = run_ocb(stages.run_dir, step_args(step, stages.run_dir), sink.port)
        if outcome.ok or (step == "send" and only_uncertain_left(outcome)):
            break
        if retries >= max_retries:
            raise RuntimeError(f"`ocb {step}` still fails after {retries} retries:\n{outcome.stdout[-1500:]}\n"
                               f"{outcome.stderr[-3000:]}")
    checks += 1
    unreconciled += [f"after the retry: {m}" for m in findings(warehouse_path(stages.run_dir))]
    figures: dict[str, Any] = {"step": step, "kills": kills, "retries": retries, "points": log,
                               "reconciliation_checks": checks, "left_awaiting_validation": unvalidated,
                               "uncertain_deliveries": 0, "uncertain_found_delivered": 0,
                               "uncertain_deliveries_resolved": 0, "emails_lost": 0, "emails_doubled": 0}
    if step == "send":
        figures.update(resolve_uncertain(stages, sink))
        again = run_ok(stages.run_dir, step_args("send", stages.run_dir), sink.port)  # nothing left to send
        figures["send_after_resolution"] = again.stdout.strip().splitlines()[-1:] if again.stdout else []
    state = capture_state(stages.run_dir)
    reference = stages.after[step]
    if step == "send":  # attempts differ by design: what counts is what the server got, and that the log says so
        figures.update(compare_emails(stages.emails, sink.snapshot()))
    figures.update(compare(reference, state, stages.run_dir if step == "render" else None))
    if step == "send":
        figures["mismatches"] += delivery_log_consistent(state, sink.snapshot())
    figures["mismatches"] += unreconciled
    return figures


# ------------------------------------------------------------------------------------------------
# The campaign
# ------------------------------------------------------------------------------------------------

SUM_KEYS = ("rows_lost", "rows_doubled", "money_lost", "money_doubled", "files_half_written", "files_lost",
            "files_doubled", "emails_lost", "emails_doubled", "uncertain_deliveries", "uncertain_found_delivered",
            "uncertain_deliveries_resolved", "reconciliation_checks", "left_awaiting_validation")


def run_fault_campaign(workdir: Path, iterations: int, seed: int = 0) -> dict:
    """`iterations` trials per step (import, render, send), each 3 or 4 SIGKILLs at random points of a seeded RNG
    then a retry until success; every trial compared with the uninterrupted reference run.

    Returns the figures: faults_injected, kills_import/render/send, rows/money/files/emails lost or doubled
    (all must be 0), uncertain deliveries (found delivered in the server log, or resolved by `ocb resend`),
    mismatches (descriptions of any difference), seconds."""
    started = time.monotonic()
    rng = random.Random(seed)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"seed": seed, "iterations": iterations, "faults_injected": 0, "kills_import": 0,
                               "kills_render": 0, "kills_send": 0, "trials": 0, "retries": 0,
                               **{k: 0 for k in SUM_KEYS}, "mismatches": [], "trial_log": []}
    with SmtpSink() as sink:
        stages = prepare(workdir, sink)
        figures["reference_seconds"] = {k: round(v, 1) for k, v in stages.seconds.items()}
        figures["statements"], figures["emails_per_run"] = stages.statements, len(stages.emails)
        figures["rows_per_run"] = sum(stages.after["import"].rows["focus_raw"].values())
        for _ in range(iterations):
            for step in STEPS:
                def point(step: str = step) -> KillPoint:
                    return random_kill_point(step, rng, stages, len({m.recipient for m in sink.snapshot()}))

                points: list[Callable[[], KillPoint]] = [point] * rng.randint(3, 4)
                result = trial(stages, sink, step, points)
                figures["trials"] += 1
                figures[f"kills_{step}"] += result["kills"]
                figures["faults_injected"] += result["kills"]
                figures["retries"] += result["retries"]
                for key in SUM_KEYS:
                    figures[key] += result.get(key, 0)
                figures["mismatches"] += [f"{step}: {m}" for m in result["mismatches"]]
                figures["trial_log"].append(f"{step}: {'; '.join(result['points'])}")
    figures["money_lost"], figures["money_doubled"] = str(figures["money_lost"]), str(figures["money_doubled"])
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


if __name__ == "__main__":  # python -m ocb_pipelines_tests.reliability.faults WORKDIR ITERATIONS [SEED]
    import json

    result = run_fault_campaign(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    print(json.dumps(result, indent=2, default=str))
