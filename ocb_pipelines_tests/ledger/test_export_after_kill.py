"""A journal export SIGKILLed after its file was written but before it was recorded: the retry adopts that file
instead of writing a second copy (`_2`) of the same journal."""

import signal
import subprocess
import sys
import textwrap

from ocb_pipelines.ledger.export import export_journal
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH
from .test_export import _standard_month

KILLED_EXPORT = textwrap.dedent("""
    import os, signal, sys
    from ocb_pipelines.warehouse import database as wh
    from ocb_pipelines.core.config import load_config
    from ocb_pipelines.ledger import export

    settings = load_config(sys.argv[1])
    write = export.write_new_file

    def write_then_die(*args, **kwargs):
        write(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)  # the file is there; its journal_exports row never will be

    export.write_new_file = write_then_die
    with wh.connect(settings.warehouse_path) as con:
        export.export_journal(con, settings, sys.argv[2], "gl")
""")


def test_retry_after_a_kill_between_write_and_record_adopts_the_file(settings):
    _standard_month(settings)
    killed = subprocess.run([sys.executable, "-c", KILLED_EXPORT, str(settings.config_path), MONTH],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    folder = settings.output.journal_dir
    assert [p.name for p in folder.iterdir()] == ["journal_gl_2025-01.csv"]
    orphan = (folder / "journal_gl_2025-01.csv").read_bytes()
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT count(*) FROM journal_exports").fetchall()[0][0] == 0
        retry = export_journal(con, settings, MONTH, "gl")
        rows = con.execute("SELECT status, file_path FROM journal_exports").fetchall()
    assert retry.status == "written" and retry.file_path.name == "journal_gl_2025-01.csv"
    assert sorted(p.name for p in folder.iterdir()) == ["journal_gl_2025-01.csv"]  # no `_2` copy, no temp
    assert retry.file_path.read_bytes() == orphan and rows == [("written", str(retry.file_path))]
    with wh.connect(settings.warehouse_path) as con:
        assert export_journal(con, settings, MONTH, "gl").status == "unchanged"
