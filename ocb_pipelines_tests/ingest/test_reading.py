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


def _reads(monkeypatch) -> list[bool]:
    """Whether each read_csv of the import had '' among its null strings."""
    seen: list[bool] = []
    real = reading.reader_sql

    def spy(*args, empty_is_null: bool = False, **kwargs):
        seen.append(empty_is_null)
        return real(*args, empty_is_null=empty_is_null, **kwargs)

    monkeypatch.setattr(reading, "reader_sql", spy)
    return seen


def _stored(db) -> list[tuple]:
    with wh.connect(db) as con:
        return con.execute("SELECT * EXCLUDE (imported_at, import_id) FROM focus_raw ORDER BY file_row_number"
                           ).fetchall()


def test_a_file_the_months_scan_read_strictly_is_imported_without_a_nullif_per_value(tmp_path, monkeypatch):
    """The months scan refuses a record of the wrong width; an import of the same settled file after it reads with
    '' as a null string (no nullif on every value) and stores exactly what a strict read of the file stores."""
    rows = [focus_row(), focus_row(billed="2.00", ResourceName=""), focus_row(billed="3.00", ListCost="")]
    (tmp_path / "inspected").mkdir()
    (tmp_path / "fresh").mkdir()
    inspected = _settled(write_focus(tmp_path / "inspected" / "aws_2025-01.csv", rows))
    fresh = _settled(write_focus(tmp_path / "fresh" / "aws_2025-01.csv", rows))
    facts = inspect_file(inspected)
    reads = _reads(monkeypatch)
    with wh.connect(tmp_path / "a.duckdb") as con:
        import_file(con, inspected, months=facts.months, source="aws")
    assert reads and all(reads)
    reads.clear()
    with wh.connect(tmp_path / "b.duckdb") as con:
        import_file(con, fresh, months=facts.months, source="aws")  # never inspected: read strictly
    assert reads and not any(reads)
    stored = _stored(tmp_path / "a.duckdb")
    assert stored == _stored(tmp_path / "b.duckdb") and len(stored) == 3
    with wh.connect(tmp_path / "a.duckdb") as con:  # empty values are NULL either way, never ''
        assert con.execute('SELECT count(*) FILTER ("ResourceName" IS NULL), count(*) FILTER ("ListCost" IS NULL), '
                           'count(*) FILTER (\'\' IN ("ResourceName", "ListCost")) FROM focus_rows'
                           ).fetchall()[0] == (1, 1, 0)


def test_a_file_rewritten_after_its_months_scan_is_read_strictly(tmp_path):
    """A surplus empty field written after the inspection is still refused, naming its row."""
    path = _settled(write_focus(tmp_path / "aws_2025-01.csv", [focus_row(), focus_row(billed="2.00")]))
    facts = inspect_file(path)
    lines = path.read_text().split("\n")
    lines[2] += ","
    path.write_text("\n".join(lines))
    _settled(path)
    with wh.connect(tmp_path / "w.duckdb") as con:
        try:
            import_file(con, path, months=facts.months, source="aws")
        except reading.ImportRefused as exc:
            assert "row 2 (line 3 of the file) has 58 fields where the header has 57" in str(exc)
        else:
            raise AssertionError("the rewritten file was imported")


def test_the_file_catalog_vouches_for_a_strict_read_only_where_it_recorded_one(tmp_path, monkeypatch):
    """The inbox's inspection (another process, as the sensor's) is remembered in the catalog: an entry from this
    release says its read was strict; an older entry, or a file changed since, does not."""
    from ocb_pipelines.ingest.service import file_months

    path = _settled(write_focus(tmp_path / "aws_2025-01.csv", [focus_row()]))
    with wh.connect(tmp_path / "w.duckdb") as con:
        file_months(con, path)
        monkeypatch.setattr(reading, "_STRICTLY_READ", reading.FileVersionMemo())  # as in another process
        assert reading.strictly_read(con, path)
        con.execute("UPDATE file_catalog SET strictly_read = NULL")  # an entry written before the strict reader
        assert not reading.strictly_read(con, path)
        con.execute("UPDATE file_catalog SET strictly_read = true")
        path.write_text(path.read_text() + "\n")
        _settled(path)
        assert not reading.strictly_read(con, path)
        assert not reading.strictly_read(None, path)
