"""A file inspected and then imported in one process is hashed and its header sniffed once, as long as it is the
same file: a rewritten file, or one too fresh to trust its mtime, is read again."""

from __future__ import annotations

import os
import time

from ocb_pipelines.ingest import reading
from ocb_pipelines.ingest.importer import import_file, inspect_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _settled(path):
    """Back-date the file's mtime past the racy window, as an export that arrived a while ago."""
    past = time.time_ns() - 10 * reading.RACY_NS
    os.utime(path, ns=(past, past))
    return path


def _counting(monkeypatch) -> dict[str, int]:
    calls = {"header": 0, "hash": 0}
    read_header, hash_file = reading._read_header, reading._hash_file

    def header(*args):
        calls["header"] += 1
        return read_header(*args)

    def hashed(*args):
        calls["hash"] += 1
        return hash_file(*args)

    monkeypatch.setattr(reading, "_read_header", header)
    monkeypatch.setattr(reading, "_hash_file", hashed)
    return calls


def test_a_settled_file_is_sniffed_and_hashed_once_then_read_again_when_rewritten(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    path = _settled(write_focus(tmp_path / "aws_2025-01.csv", [focus_row(), focus_row(billed="2.00")]))
    facts = inspect_file(path)
    with wh.connect(tmp_path / "w.duckdb") as con:
        (first,) = import_file(con, path, months=facts.months, source="aws")
    assert (first.status, first.rows, first.sha256) == ("imported", 2, facts.sha256)
    assert calls == {"header": 1, "hash": 1}

    rows = [focus_row(), focus_row(billed="2.00"), focus_row(billed="3.00", x_Team="astro")]
    _settled(write_focus(path, rows, extra=["x_Team"]))
    facts = inspect_file(path)
    assert "x_Team" in facts.header.extra
    with wh.connect(tmp_path / "w.duckdb") as con:
        (second,) = import_file(con, path, months=facts.months, source="aws")
        stored = con.execute("SELECT json_extract_string(x_columns, '$.x_Team') FROM focus_rows "
                             "ORDER BY file_row_number").fetchall()
    assert (second.status, second.rows, second.sha256) == ("imported", 3, facts.sha256)
    assert stored == [(None,), (None,), ("astro",)]
    assert calls == {"header": 2, "hash": 2}


def test_a_fresh_file_is_read_each_time(tmp_path, monkeypatch):
    """Rewritten within the mtime's granularity, a file could keep its size and mtime: not trusted yet."""
    calls = _counting(monkeypatch)
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row()])
    facts = inspect_file(path)
    with wh.connect(tmp_path / "w.duckdb") as con:
        import_file(con, path, months=facts.months, source="aws")
    assert calls == {"header": 2, "hash": 2}
