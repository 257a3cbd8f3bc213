"""Dev mode faults: a temp file of a writer killed mid-way is removed by the next delivery; a full disk is a
failed (retried) delivery, not a crash."""

import errno
import subprocess
import sys

from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.statements import render
from ocb_pipelines.statements.generate import generate_statements
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH


def test_stale_outbox_temp_is_removed_and_messages_written_once(closed_month):
    settings = closed_month
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = settings.output.email_dir / MONTH
    folder.mkdir(parents=True)
    stale = folder / f".2025-01_pi_abc_1.eml.{dead.pid}.tmp"
    stale.write_bytes(b"From: half a mess")
    with wh.connect(settings.warehouse_path) as con:
        generate_statements(con, settings, MONTH, workers=1)
        assert deliver_month(con, settings, MONTH).summary() == {"written": 2}
    assert sorted(p.suffix for p in folder.iterdir()) == [".eml", ".eml"]


def test_outbox_disk_full_is_logged_as_failed_and_retried(closed_month, monkeypatch):
    settings = closed_month
    real = render.write_atomic

    def full(path, data, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with wh.connect(settings.warehouse_path) as con:
        generate_statements(con, settings, MONTH, workers=1)
        monkeypatch.setattr(render, "write_atomic", full)
        result = deliver_month(con, settings, MONTH)
        assert result.summary() == {"failed": 2}
        assert all("No space left on device" in i["error"] and ".eml" in i["error"] for i in result.items)
        assert not list((settings.output.email_dir / MONTH).glob("*"))
        monkeypatch.setattr(render, "write_atomic", real)
        assert deliver_month(con, settings, MONTH).summary() == {"written": 2}
        assert deliver_month(con, settings, MONTH).summary() == {"already_sent": 2}
    assert len(list((settings.output.email_dir / MONTH).glob("*.eml"))) == 2
