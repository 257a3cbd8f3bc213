"""What a statement writer is: its page (what it may use), its deferred bytes and the writer itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocb_pipelines.statements.lines import Statement


@dataclass(frozen=True)
class Page:
    """What a writer may use besides the statement: the (sandboxed) templates, the configuration values printed
    on it, the generation time and this statement's file name in every format (a PDF names its CSV)."""

    env: Any
    ctx: Any  # render.RenderContext
    generated_at: datetime
    file_names: Mapping[str, str]


@dataclass(frozen=True)
class Deferred:
    """Bytes made by `make(argument)` in a rendering worker process (both must pickle: module-level names)."""

    make: Callable[[Any], bytes]
    argument: Any


@dataclass(frozen=True)
class StatementWriter:
    """One statement format."""

    name: str
    suffix: str
    mime: str
    write: Callable[[Statement, Page], bytes | Deferred]
