"""Check the configured pricing files without pricing anything (`ocb pricing check`): finance edits them in a
spreadsheet, and a refusal is better read before month end than in a failed pricing run."""

from __future__ import annotations

from collections.abc import Callable, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.pricing.files import PricingFileError, file_sha256, read_accounts, read_fees, read_rates
from ocb_pipelines.pricing.shares import read_splits


@dataclass(frozen=True)
class FileCheck:
    """One configured file: its lines and digest when it reads, else the reader's refusal as it worded it."""

    kind: str  # rates | fees | accounts | splits
    setting: str  # the config key that names it
    path: Path
    lines: int | None = None
    sha256: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "setting": self.setting, "path": str(self.path), "ok": self.ok,
                "lines": self.lines, "sha256": self.sha256, "error": self.error}


def configured_files(settings: OcbSettings) -> list[tuple[str, str, Path, Callable[[Path], Sized]]]:
    """(kind, config key, path, reader) for each pricing file the configuration names, in reading order."""
    candidates = [("rates", "pricing.rates_file", settings.pricing.rates_file, read_rates),
                  ("fees", "pricing.fees_file", settings.pricing.fees_file, read_fees),
                  ("accounts", "pricing.accounts_file", settings.pricing.accounts_file, read_accounts),
                  ("splits", "funding.splits_file", settings.funding.splits_file, read_splits)]
    return [(kind, key, path, reader) for kind, key, path, reader in candidates if path is not None]


def check_pricing_files(settings: OcbSettings) -> list[FileCheck]:
    """Read every configured pricing file with its reader: lines and sha256, or the refusal."""
    checks = []
    for kind, key, path, reader in configured_files(settings):
        digest = _digest_or_none(path)
        try:
            lines = len(reader(path))
        except PricingFileError as exc:
            checks.append(FileCheck(kind, key, path, sha256=digest, error=str(exc)))
            continue
        checks.append(FileCheck(kind, key, path, lines=lines, sha256=digest))
    return checks


def _digest_or_none(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except PricingFileError:
        return None
