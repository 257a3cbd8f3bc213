"""The folders a large CSV's parts are cut into, named by the importing process, and their cleanup.

A killed import (SIGKILL, OOM, power) never reaches its `finally`, so its parts (a full copy of the file) stay
beside DuckDB's temporary files. Each folder's name carries its process id: any later import removes the folders
of processes that are gone, never one a running import (in this or another process) is still reading.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

PREFIX = "ocb-split-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]{{32}}$")


def new_folder(temp: Path) -> Path:
    """A fresh folder name for this process's parts (not created)."""
    return temp / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def remove_dead_splits(temp: Path) -> list[Path]:
    """Remove the split folders under `temp` whose importing process is gone; the folders removed."""
    removed: list[Path] = []
    try:
        entries = list(temp.iterdir())
    except OSError:
        return removed
    for entry in entries:
        found = _NAME.match(entry.name)
        if found and entry.is_dir() and not _alive(int(found.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
