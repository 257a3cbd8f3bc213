"""Render statements: Jinja2 (autoescape ON) to HTML, WeasyPrint to PDF in a pool of workers (no Dagster).

Templates are looked up in the `templates/` folder beside the configuration file first, then in the
package default (ocb_pipelines/statements/templates/, which every install carries; the repository's
templates/ links to it). A template is user input: it runs in Jinja's sandbox (as the journal template
does), so it can use the values it is given but not reach Python (`__globals__`, `os`, ...); a refused
or broken template stops the step with `TemplateRefused` before anything is written or sent. The fingerprint
of the templates in use is part of every statement's content hash, so editing a template re-renders.

PDFs (a writer's deferred files) are made by a pool of processes (WeasyPrint is CPU-bound) that die with
the process that started them (worker_life.py: a killed `ocb generate` leaves no worker behind); files are
written to a temporary name and renamed, so a crash never leaves half a PDF under a statement's name.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from markupsafe import Markup

from ocb_pipelines.core.money import format_money
from ocb_pipelines.statements.adjustments import adjustments_total, shown_months
from ocb_pipelines.statements.lines import Breakdown, Statement
from ocb_pipelines.statements.pi_history import history_bars
from ocb_pipelines.statements.worker_life import tie_to_parent

DEFAULT_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATEMENT_TEMPLATE = "statement.html"
EMAIL_TEMPLATE = "email_summary.html"
RENDER_WORKERS = 2
MAX_SERVICE_ROWS = 8
POOL_THRESHOLD = 4  # fewer PDFs than this render in-process (a worker's start costs more than it saves)

@dataclass(frozen=True)
class RenderContext:
    """What a statement shows besides its lines (all from the configuration, never from billing files)."""

    org_name: str
    org_address: str
    contact: str
    currency_symbol: str
    currency_code: str
    reference_1_label: str = "Reference"
    reference_2_label: str = "Reference 2"

    def fingerprint(self) -> tuple[str, ...]:
        return (self.org_name, self.org_address, self.contact, self.currency_symbol, self.currency_code,
                self.reference_1_label, self.reference_2_label)


def _label(tag: str, fallback: str) -> str:
    return tag.replace("_", " ").strip().capitalize() if tag else fallback


def context_from(settings: Any) -> RenderContext:
    email = settings.email
    return RenderContext(
        org_name=email.from_name if email else "Research Computing",
        org_address=(email.organization_address if email else "") or "",
        contact=email.from_address if email else "",
        currency_symbol=settings.currency.symbol,
        currency_code=settings.currency.code,
        reference_1_label=_label(settings.tag_mapping.reference_1, "Reference"),
        reference_2_label=_label(settings.tag_mapping.reference_2, "Reference 2"),
    )


def template_dirs(config_path: Path | None) -> list[Path]:
    """The config folder's templates/ (user overrides) first, then the package default."""
    dirs = []
    if config_path is not None:
        dirs.append(Path(config_path).resolve().parent / "templates")
    dirs.append(DEFAULT_TEMPLATE_DIR)
    return [d for d in dirs if d.is_dir()]


_CSS_SAFE = re.compile(r"[A-Za-z0-9 _.,@()-]")


def css_string(value: Any) -> Markup:
    """Text safe inside a CSS string literal: anything unusual becomes a CSS hex escape."""
    return Markup("".join(ch if _CSS_SAFE.fullmatch(ch) else f"\\{ord(ch):x} " for ch in str(value)))


class TemplateRefused(ValueError):
    """A statement or email template was refused by the sandbox or failed to render; nothing was written."""


def make_env(dirs: Sequence[Path], currency_symbol: str) -> Environment:
    """Sandboxed: an override template in the config folder must not run code on the billing host."""
    if not dirs:
        raise FileNotFoundError(f"no template folder found (expected {DEFAULT_TEMPLATE_DIR})")
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in dirs]),
        autoescape=True,  # values from billing files are text, never markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda amount: format_money(amount, currency_symbol)
    env.filters["css_string"] = css_string
    return env


def render_template(env: Environment, name: str, **context: Any) -> str:
    """Render `name`, or raise TemplateRefused naming the template file and what was refused."""
    try:
        return env.get_template(name).render(**context)
    except TemplateError as exc:
        try:
            where = env.loader.get_source(env, name)[1] or name  # type: ignore[union-attr]
        except TemplateError:
            where = name
        why = ("refused by the sandbox: a template may only use the values it is given"
               if isinstance(exc, SecurityError) else type(exc).__name__)
        raise TemplateRefused(f"template {where}: {why} ({exc})") from None


def template_fingerprint(env: Environment, *names: str) -> str:
    """sha256 of the templates' sources as resolved (an override changes it)."""
    digest = hashlib.sha256()
    for name in names:
        source, _filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        digest.update(name.encode() + b"\0" + source.encode("utf-8") + b"\0")
    return digest.hexdigest()


def folded_services(statement: Statement, limit: int = MAX_SERVICE_ROWS) -> list[Breakdown]:
    """The largest services, the rest folded into one row (the PDF stays short; the CSV has every line)."""
    rows = list(statement.services)
    if len(rows) <= limit:
        return rows
    rest = rows[limit - 1:]
    other = Breakdown(f"Other services ({len(rest)})", "", sum((r.list_total for r in rest), Decimal(0)),
                      sum((r.billed_total for r in rest), Decimal(0)), sum(r.lines for r in rest))
    return [*rows[: limit - 1], other]


def statement_html(env: Environment, statement: Statement, ctx: RenderContext, *, csv_name: str,
                   generated_at: datetime) -> str:
    return render_template(
        env, STATEMENT_TEMPLATE,
        s=statement,
        services=folded_services(statement),
        org={"name": ctx.org_name, "address": ctx.org_address, "contact": ctx.contact},
        currency={"symbol": ctx.currency_symbol, "code": ctx.currency_code},
        labels={"reference_1": ctx.reference_1_label, "reference_2": ctx.reference_2_label},
        period_label=datetime.strptime(statement.billing_month, "%Y-%m").strftime("%B %Y"),
        csv_name=csv_name,
        generated_at=f"{generated_at:%Y-%m-%d %H:%M}",
        history=history_bars(statement.history, statement.billing_month),
        adjustment_months=shown_months(statement.adjustments),
        adjustments_total=adjustments_total(statement.adjustments),
    )


def write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> str:
    """Write bytes under a temporary name and rename; return their sha256.

    Statements are not fsynced (an fsync per file cost more than rendering on this VM): they can always
    be rebuilt from the warehouse, and delivery refuses a file whose sha256 differs from the recorded one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # disk full, EFBIG...: no half-written file stays behind
        raise OSError(exc.errno, exc.strerror, str(path)) from None  # name the file the write was for
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the temporary files of `write_atomic` whose writer process is gone (it was killed mid-write)."""
    removed = []
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(".*.tmp"):
        pid = tmp.name[:-len(".tmp")].rsplit(".", 1)[-1]
        if not pid.isdigit() or _pid_alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_FONT_CONFIG: Any = None


def html_to_pdf_bytes(html: str, base_url: str | None = None) -> bytes:
    """WeasyPrint, with one FontConfiguration per process (reusing it saves about a fifth of the time)."""
    global _FONT_CONFIG
    import weasyprint  # imported late: 0.6 s, only where PDFs are made
    from weasyprint.text.fonts import FontConfiguration

    if _FONT_CONFIG is None:
        _FONT_CONFIG = FontConfiguration()
    return weasyprint.HTML(string=html, base_url=base_url).write_pdf(font_config=_FONT_CONFIG)


def pdf_bytes(page: tuple[str, str | None]) -> bytes:
    """The PDF of (html, base_url): the PDF writer's deferred step, run in a rendering worker."""
    html, base_url = page
    return html_to_pdf_bytes(html, base_url)


def make_file(job: tuple[Callable[[Any], bytes], Any, str]) -> tuple[str, str]:
    """One deferred file (a pool worker's task): (make, argument, path) -> (path, sha256)."""
    make, argument, path = job
    return path, write_atomic(Path(path), make(argument))


def _start_worker(parent_pid: int) -> None:
    """A worker's initializer: die with the parent (a killed `ocb generate` leaves no worker), import WeasyPrint."""
    tie_to_parent(parent_pid)
    import weasyprint  # noqa: F401


def _ready() -> None:
    """A no-op job: submitting one per worker starts the workers before the first real job."""


class RenderPool:
    """Make deferred files (PDFs) on `workers` spawned processes (the caller may hold threads and DuckDB
    handles), started before the first job so they import WeasyPrint while the caller is still building HTML.
    Fewer jobs than POOL_THRESHOLD (or one worker) run in-process. `results()` yields (path, sha256) as each
    file is done."""

    def __init__(self, workers: int = RENDER_WORKERS, expected: int = 0):
        self._pool = None
        self._futures: list[Any] = []
        self._done: list[tuple[str, str]] = []
        if workers > 1 and expected >= POOL_THRESHOLD:
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                             initializer=_start_worker, initargs=(os.getpid(),))
            for _ in range(workers):  # each submit to a pool with no idle worker starts one
                self._pool.submit(_ready)

    def submit(self, make: Callable[[Any], bytes], argument: Any, path: str) -> None:
        if self._pool is None:
            self._done.append(make_file((make, argument, path)))
        else:
            self._futures.append(self._pool.submit(make_file, (make, argument, path)))

    def results(self) -> Iterator[tuple[str, str]]:
        """(path, sha256) of every submitted file, in completion order (for the progress display)."""
        done, self._done = self._done, []
        yield from done
        futures, self._futures = self._futures, []
        for future in as_completed(futures):
            yield future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def file_sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None
