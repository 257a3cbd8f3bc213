"""Files the desk hands out (statements, journal exports): found by their recorded id, never by a path a request
or a billing file names.

A file is served only when it lies inside the configured output folder it belongs to and still holds the bytes
recorded for it (its sha256): a file moved, replaced or written elsewhere (`ocb export-journal -o /tmp/x.csv`) is
refused with what to do, not served. The download name is fixed and made only of safe characters.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


class DownloadUnavailable(LookupError):
    """No such file recorded, or the recorded file cannot be served as it is; the message says why."""


@dataclass(frozen=True)
class Download:
    """A file to send: where it is, its media type, and the name the browser is given."""

    path: Path
    media_type: str
    filename: str


def safe_filename(stem: str, suffix: str) -> str:
    """`stem` + `suffix` with anything but letters, digits, `.`, `_` and `-` replaced (no `..`, no slash)."""
    clean_stem = SAFE_NAME.sub("_", stem).strip("._") or "file"
    clean_suffix = suffix.lower() if SAFE_SUFFIX.fullmatch(suffix.lower()) else ""
    return clean_stem.replace("..", "_") + clean_suffix


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_file(folder: Path, recorded_path: str, sha256: str, what: str, todo: str) -> Path:
    """The recorded file when it is inside `folder`, present, and holds the recorded bytes; else
    DownloadUnavailable naming `what` and `todo` (what to do about it)."""
    root = folder.resolve()
    path = Path(recorded_path).resolve()
    if not path.is_relative_to(root):
        raise DownloadUnavailable(f"{what} was written outside {root} (to {path.parent}); the desk serves only "
                                  f"files in its output folder")
    if not path.is_file():
        raise DownloadUnavailable(f"{what} is no longer in {root}; {todo}")
    if sha256 and file_sha256(path) != sha256:
        raise DownloadUnavailable(f"{what} was changed on disk since it was recorded; {todo}")
    return path
