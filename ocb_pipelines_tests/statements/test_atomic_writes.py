"""write_atomic leaves no temporary file behind on a failed write; temps of killed writers are cleaned up."""

import errno
import os
import subprocess
import sys

import pytest

from ocb_pipelines.statements import render


def test_failed_write_leaves_neither_temp_nor_target(tmp_path, monkeypatch):
    target = tmp_path / "2025-01" / "s.pdf"

    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(render.os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        render.write_atomic(target, b"%PDF-1.7 ...")
    assert list(target.parent.iterdir()) == []


def test_stale_temps_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".a.pdf.{dead.pid}.tmp"
    live = tmp_path / f".b.pdf.{os.getpid()}.tmp"
    done = tmp_path / "c.pdf"
    for path in (stale, live, done):
        path.write_bytes(b"x")
    assert render.remove_stale_temps(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, done.name])
    assert render.remove_stale_temps(tmp_path / "missing") == []
