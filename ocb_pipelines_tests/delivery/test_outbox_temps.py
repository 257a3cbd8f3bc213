"""Dev mode: the temp file of an outbox write killed mid-way is removed by the next delivery, not left forever."""

import subprocess
import sys

from ocb_pipelines.core import warehouse as wh
from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.statements.generate import generate_statements

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
