"""File names for statements built from values that come from billing files (no Dagster).

A PI email or project id is data, not a path: it is reduced to a short ASCII slug (for humans) and
followed by a hash of the exact raw values (for uniqueness), so `../x`, `/etc/passwd`, NUL bytes,
very long or non-Latin values can neither leave the output folder nor collide with another statement
(two PIs whose names slugify the same still differ in the hash).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from ocb_pipelines.periods.lifecycle import check_period_key

SLUG_MAX = 40
HASH_CHARS = 12


class UnsafePathError(ValueError):
    """A computed path would leave its folder (never expected; a last line of defence)."""


def slugify(value: str | None, max_length: int = SLUG_MAX) -> str:
    """Lower-case ASCII letters, digits and single dashes; `x` when nothing is left."""
    text = unicodedata.normalize("NFKD", str(value or "")).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    text = text[:max_length].rstrip("-")
    return text or "x"


def key_hash(*values: str | None) -> str:
    """A short hash of the exact values (length-prefixed, so ("a|b", "c") != ("a", "b|c"))."""
    digest = hashlib.sha256()
    for value in values:
        raw = ("\x00" if value is None else "\x01" + value).encode("utf-8", "surrogatepass")
        digest.update(len(raw).to_bytes(8, "big") + raw)
    return digest.hexdigest()[:HASH_CHARS]


def statement_stem(month: str, pi_email: str | None, project_id: str | None) -> str:
    """`2025-01_ada-lovelace-example-edu_astro-survey_3f9a1c0b7d2e` (no extension)."""
    check_period_key(month)
    return f"{month}_{slugify(pi_email)}_{slugify(project_id)}_{key_hash(month, pi_email, project_id)}"


def pi_stem(month: str, pi_email: str | None) -> str:
    check_period_key(month)
    return f"{month}_{slugify(pi_email)}_{key_hash(month, pi_email)}"


def contained(folder: Path, name: str) -> Path:
    """`folder/name`, refusing anything that is not a plain file name inside `folder`."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafePathError(f"not a plain file name: {name!r}")
    root = folder.resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise UnsafePathError(f"{name!r} would leave {root}")
    return path


def month_folder(base: Path, month: str) -> Path:
    return contained(base, check_period_key(month))


def statement_file(base: Path, month: str, pi_email: str | None, project_id: str | None, suffix: str) -> Path:
    """One statement's file in one format (`suffix`, e.g. `.pdf`) under `base/<month>/`."""
    return contained(month_folder(base, month), statement_stem(month, pi_email, project_id) + suffix)


def statement_paths(base: Path, month: str, pi_email: str | None, project_id: str | None) -> tuple[Path, Path]:
    """(pdf, csv) for one statement under `base/<month>/`."""
    return (statement_file(base, month, pi_email, project_id, ".pdf"),
            statement_file(base, month, pi_email, project_id, ".csv"))
