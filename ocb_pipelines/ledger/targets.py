"""Where a journal export goes: a folder (the next free `journal_<format>_<month>[_N].csv` in it) or one
named file (`ocb export-journal -o journal.csv`, as OpenChargeback's `-o` was). Never overwrites.

The rule, one for the CLI and the asset: the output is a FILE when it has a suffix (`j.csv`), is not an
existing folder and does not end with a path separator; otherwise it is a FOLDER (created when
missing). Relative paths are from the current directory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import duckdb


def output_target(out: str | Path | None, default_dir: Path) -> tuple[Path, Path | None]:
    """(folder, file or None) for an export; see the module doc."""
    if not out:
        directory = default_dir if default_dir.is_absolute() else Path.cwd() / default_dir
        return directory, None
    text = str(out)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if text.endswith(("/", os.sep)) or path.is_dir() or not path.suffix:
        return path, None
    return path.parent, path


def as_option(out: str | Path) -> str:
    """The absolute form of `-o` that keeps its meaning: a folder gets a trailing separator."""
    directory, file = output_target(out, Path.cwd())
    return str(file) if file is not None else str(directory) + os.sep


def write_exact_file(target: Path, data: bytes) -> Path:
    """Write data as exactly `target`: complete or not at all, and FileExistsError if the name is taken (an
    atomic hard link of a finished temporary file, so a concurrent export cannot be overwritten either)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp_name, target)
        return target
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def next_free_path(directory: Path, stem: str, suffix: str) -> Path:
    candidate = directory / f"{stem}{suffix}"
    n = 2
    while candidate.exists():
        candidate = directory / f"{stem}_{n}{suffix}"
        n += 1
    return candidate


def write_new_file(directory: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Write data under the first free name; never replaces a file, never leaves half of one."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        while True:
            target = next_free_path(directory, stem, suffix)
            try:
                os.link(tmp_name, target)  # fails if the name was taken meanwhile
                return target
            except FileExistsError:
                continue
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def sha256_text(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unchanged_export(con: duckdb.DuckDBPyConnection, month: str, fmt: str, sha: str, directory: Path,
                      target: Path | None = None) -> Path | None:
    """The newest export of the month and format when it has these bytes, still on disk, in this folder (or at
    this very file name)."""
    rows = con.execute(
        "SELECT file_path, file_sha256 FROM journal_exports WHERE billing_month = ? AND format = ? "
        "ORDER BY export_id DESC LIMIT 1",
        [month, fmt],
    ).fetchall()
    if not rows or rows[0][1] != sha:
        return None
    path = Path(rows[0][0])
    same_place = path.resolve() == target.resolve() if target is not None else \
        path.parent.resolve() == directory.resolve()
    if not same_place or not path.is_file():
        return None
    return path if sha256_text(path.read_bytes()) == sha else None


def unrecorded_twin(con: duckdb.DuckDBPyConnection, candidates: list[Path], sha: str) -> Path | None:
    """A file with exactly these bytes that no export recorded: a run killed between writing it and recording
    it. It is adopted rather than written again as `_2`, which would leave two copies of one journal."""
    recorded = {Path(r[0]).resolve() for r in con.execute("SELECT file_path FROM journal_exports").fetchall()}
    for path in candidates:
        if path.is_file() and path.resolve() not in recorded and sha256_text(path.read_bytes()) == sha:
            return path
    return None
