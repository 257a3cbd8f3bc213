"""A large CSV is read as one part per DuckDB thread, all at once: the rows, their numbers and every refusal are those
of the file."""

import csv
import dataclasses
import io
import itertools
import json
import os
import stat
import time
from pathlib import Path

import pytest

from ocb_pipelines.ingest import importer, pipes, reading
from ocb_pipelines.ingest import parts as parts_module
from ocb_pipelines.ingest.importer import ImportRefused, cut_near_middle, import_file, inspect_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus
from ocb_pipelines_tests.ingest.test_pipes import live_feeders

AWKWARD = ['line one\nline two', 'a "quoted" word', 'comma, inside', '"', '""', '', 'x\r\ny']


def _rows(count: int, month: str = "2025-01", **overrides) -> list[dict]:
    """Rows whose descriptions hold newlines, doubled quotes and commas, so a careless cut would split a record."""
    return [focus_row(month, billed=f"{k}.25", ResourceId=f"vm-{k}", ChargeDescription=AWKWARD[k % len(AWKWARD)],
                      Tags=json.dumps({"pi_email": "ada@example.edu", "note": AWKWARD[(k + 3) % len(AWKWARD)]}),
                      **overrides)
            for k in range(count)]


def _import(tmp_path: Path, path: Path, *, split: bool, monkeypatch, months=("2025-01",), max_errors: int = 20):
    monkeypatch.setattr(importer, "SPLIT_MIN_BYTES", 1 if split else 1 << 60)
    cuts = []
    real_split = importer.split_in_parts

    def spy(*args):
        cuts.append(real_split(*args))
        return cuts[-1]

    monkeypatch.setattr(importer, "split_in_parts", spy)
    db = tmp_path / f"{'split' if split else 'whole'}.duckdb"
    with wh.connect(db) as con:
        try:
            results = import_file(con, path, months=list(months), source="aws", max_errors=max_errors)
        finally:
            assert (cuts[0] is not None) == split, "the halves path is the one under test"
        rows = con.execute(
            "SELECT * EXCLUDE (imported_at, import_id) FROM focus_raw ORDER BY billing_month, file_row_number"
        ).fetchall()
        temp = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
    assert not list(temp.glob("ocb-split-*")), "the halves are removed"
    return results, rows


def _refusals_of_the_parts(monkeypatch) -> list[str]:
    """Why each read of the parts was refused (and the import redone from the whole file), as they happen."""
    refusals: list[str] = []
    real_insert = importer._insert_parts

    def spy(*args):
        try:
            return real_insert(*args)
        except importer._PartsUnreadable as exc:
            refusals.append(str(exc))
            raise

    monkeypatch.setattr(importer, "_insert_parts", spy)
    return refusals


def test_cut_lands_between_records(tmp_path):
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(400))
    data = path.read_bytes()
    header = data.index(b"\n") + 1
    cut, records_before = cut_near_middle(path, header, block_size=4096)  # blocks end inside quoted fields
    assert len(data) // 2 <= cut < len(data)
    whole = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    first = list(csv.reader(io.StringIO(data[:cut].decode("utf-8-sig"), newline="")))
    second = list(csv.reader(io.StringIO(data[cut:].decode("utf-8"), newline="")))
    assert first + second == whole and len(second) > 100
    assert records_before == len(first) - 1  # data records: the second half's numbers start after them


@pytest.mark.parametrize("crlf", [False, True])
def test_halves_give_the_same_rows_and_numbers_as_the_whole_file(tmp_path, monkeypatch, crlf):
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(600), bom=True)
    if crlf:
        text = path.read_bytes().decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        path.write_bytes(buffer.getvalue().encode("utf-8"))
    split_results, split_rows = _import(tmp_path, path, split=True, monkeypatch=monkeypatch)
    whole_results, whole_rows = _import(tmp_path, path, split=False, monkeypatch=monkeypatch)
    assert split_rows == whole_rows and len(split_rows) == 600
    assert (split_results[0].rows, split_results[0].billed_total) == (whole_results[0].rows,
                                                                      whole_results[0].billed_total)
    assert [r[4] for r in split_rows] == list(range(1, 601))  # file_row_number, in file order


def test_halves_of_a_strictly_read_file_take_empty_values_as_null_in_the_reader(tmp_path, monkeypatch):
    """After the months scan has read the file strictly, its parts are read with '' as a null string (no nullif
    per value): the same rows as the strict read of the whole file."""
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(600))
    _, whole_rows = _import(tmp_path, path, split=False, monkeypatch=monkeypatch)
    past = time.time_ns() - 10 * reading.RACY_NS
    os.utime(path, ns=(past, past))
    inspect_file(path)
    assert reading.strictly_read(None, path)
    lenient_reads = []
    real = parts_module.reader_sql
    monkeypatch.setattr(parts_module, "reader_sql",
                        lambda *a, **k: lenient_reads.append(k["empty_is_null"]) or real(*a, **k))
    _, split_rows = _import(tmp_path, path, split=True, monkeypatch=monkeypatch)
    assert len(lenient_reads) >= 2 and all(lenient_reads)  # one read per part
    assert split_rows == whole_rows and len(split_rows) == 600


def test_multi_month_file_in_halves(tmp_path, monkeypatch):
    rows = _rows(300, "2025-01") + _rows(300, "2025-02")
    path = write_focus(tmp_path / "aws_2025-01.csv", rows[::2] + rows[1::2])
    months = ("2025-01", "2025-02")
    _, split_rows = _import(tmp_path, path, split=True, monkeypatch=monkeypatch, months=months)
    _, whole_rows = _import(tmp_path, path, split=False, monkeypatch=monkeypatch, months=months)
    assert split_rows == whole_rows and len(split_rows) == 600


def test_gate_names_the_files_first_failures_across_both_halves(tmp_path, monkeypatch):
    rows = _rows(500)
    for k in (30, 260, 410, 480):
        rows[k]["ChargeCategory"] = "Bogus"
    rows[300]["BilledCost"] = "12,50"
    path = write_focus(tmp_path / "aws_2025-01.csv", rows)
    messages = []
    for split in (True, False):
        with pytest.raises(ImportRefused) as err:
            _import(tmp_path, path, split=split, monkeypatch=monkeypatch, max_errors=3)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert [f"row {k + 1} " in messages[0] for k in (30, 260, 300, 410)] == [True, True, True, False]


def test_halves_that_cannot_be_read_fall_back_to_the_whole_file(tmp_path, monkeypatch):
    """Any error while reading the halves rolls back and reads the file itself, so a refusal would name the
    file's own lines (DuckDB's sniffer reads a small file whole and refuses it before any cut). A part the failed
    read never opened leaves no feeder waiting for it."""
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(300))
    real_sql = importer.parts_rows_sql
    monkeypatch.setattr(importer, "parts_rows_sql",
                        lambda *args, **kwargs: real_sql(*args, **kwargs).replace("part-001.csv", "gone.csv"))
    results, rows = _import(tmp_path, path, split=True, monkeypatch=monkeypatch)
    _, whole_rows = _import(tmp_path, path, split=False, monkeypatch=monkeypatch)
    assert rows == whole_rows and results[0].rows == 300
    assert not live_feeders()


@pytest.mark.parametrize("fooled_by", ["blank line", "wrong count"])
def test_a_fooled_first_half_count_falls_back_to_the_whole_file(tmp_path, monkeypatch, fooled_by):
    """The first half's records are counted from its bytes; DuckDB skips a blank line that count takes for a
    record. Numbers that do not run 1..n are never kept: the import is redone from the whole file."""
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(300))
    if fooled_by == "blank line":
        header, rows = path.read_bytes().split(b"\n", 1)
        path.write_bytes(header + b"\n\n" + rows)  # after the header: outside any quotes
    else:
        real_cuts = importer.record_cuts
        monkeypatch.setattr(importer, "record_cuts", lambda *args: [(c, n + 1) for c, n in real_cuts(*args)])
    refusals = _refusals_of_the_parts(monkeypatch)
    results, rows = _import(tmp_path, path, split=True, monkeypatch=monkeypatch)
    _, whole_rows = _import(tmp_path, path, split=False, monkeypatch=monkeypatch)
    assert refusals == ["row numbers 1..301 for 300 rows"], "the halves were read, then refused"
    assert rows == whole_rows and [r[4] for r in rows] == list(range(1, 301)) and results[0].rows == 300


def test_in_memory_warehouse_cuts_into_the_system_temp_folder(tmp_path, monkeypatch):
    """The dry run's warehouse is in memory, where DuckDB's temp folder is relative: never the current folder."""
    import duckdb

    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(200))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(importer, "SPLIT_MIN_BYTES", 1)
    monkeypatch.setattr(importer.tempfile, "gettempdir", lambda: str(tmp_path / "system-temp"))
    (tmp_path / "system-temp").mkdir()
    cuts = []
    real_split = importer.split_in_parts
    monkeypatch.setattr(importer, "split_in_parts", lambda *args: cuts.append(real_split(*args)) or cuts[-1])
    with duckdb.connect(":memory:") as con:
        wh.configure(con)
        wh.ensure_schema(con)
        [result] = import_file(con, path, months=["2025-01"], source="aws")
    assert result.rows == 200 and cuts[0] is not None
    assert cuts[0].folder.parent == tmp_path / "system-temp"
    assert list(workdir.iterdir()) == [] and list((tmp_path / "system-temp").iterdir()) == []


@pytest.mark.skipif(not pipes.can_stream(), reason="named pipes fed by splice are Linux's")
def test_parts_are_named_pipes_fed_while_read_never_copies(tmp_path, monkeypatch):
    """Nothing of the file is written again: each part is a FIFO, fed from the file while DuckDB reads it, and fed
    anew for each month a file's rows are imported into."""
    seen = []
    real_insert = importer._insert_parts

    def spy(con, sql, key, parts):
        seen.append([stat.S_ISFIFO(part.stat().st_mode) for part in parts.files])
        return real_insert(con, sql, key, parts)

    monkeypatch.setattr(importer, "_insert_parts", spy)
    rows = _rows(300, "2025-01") + _rows(300, "2025-02")
    path = write_focus(tmp_path / "aws_2025-01.csv", rows)
    _, split_rows = _import(tmp_path, path, split=True, monkeypatch=monkeypatch, months=("2025-01", "2025-02"))
    assert seen == [[True, True], [True, True]] and len(split_rows) == 600
    assert not live_feeders()


@pytest.mark.skipif(not pipes.can_stream(), reason="named pipes fed by splice are Linux's")
def test_a_part_not_fed_whole_is_never_kept(tmp_path, monkeypatch):
    """The file ends before the last part's range does (it was cut short after the cut was made): DuckDB reads a
    shorter last part without error, but the import notices and is redone from the whole file."""
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(300))
    real_write = importer.write_parts

    def past_the_end(*args):
        parts = real_write(*args)
        start, end = parts.ranges[-1]
        return dataclasses.replace(parts, ranges=(*parts.ranges[:-1], (start, end + 1000)))

    monkeypatch.setattr(importer, "write_parts", past_the_end)
    refusals = _refusals_of_the_parts(monkeypatch)
    results, rows = _import(tmp_path, path, split=True, monkeypatch=monkeypatch)
    _, whole_rows = _import(tmp_path, path, split=False, monkeypatch=monkeypatch)
    assert len(refusals) == 1 and "part-001.csv was not fed whole" in refusals[0] and "ended at byte" in refusals[0]
    assert rows == whole_rows and results[0].rows == 300
    assert not live_feeders()


@pytest.mark.parametrize("copy_file_range", [True, False])
def test_halves_are_copied_where_there_are_no_pipes_to_splice_into(tmp_path, monkeypatch, copy_file_range):
    """Where the system has no splice (macOS), the halves are copies: inside the kernel where it can copy a file
    range, else through a buffer."""
    monkeypatch.delattr(os, "splice", raising=False)
    if not copy_file_range:
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    kinds = []
    real_insert = importer._insert_parts
    monkeypatch.setattr(importer, "_insert_parts", lambda con, sql, key, parts: kinds.append(
        [part.is_file() for part in parts.files]) or real_insert(con, sql, key, parts))
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(300))
    _, split_rows = _import(tmp_path, path, split=True, monkeypatch=monkeypatch)
    _, whole_rows = _import(tmp_path, path, split=False, monkeypatch=monkeypatch)
    assert kinds == [[True, True]] and split_rows == whole_rows and len(split_rows) == 300


def test_record_cuts_land_between_records_for_any_number_of_parts(tmp_path):
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(900))
    data = path.read_bytes()
    header = data.index(b"\n") + 1
    whole = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    for parts in (3, 5, 16):
        cuts = importer.record_cuts(path, header, parts, block_size=4096, workers=3)
        assert len(cuts) == parts - 1 and [c for c, _ in cuts] == sorted({c for c, _ in cuts})
        offsets = [0, *(c for c, _ in cuts), len(data)]
        pieces = [data[a:b] for a, b in itertools.pairwise(offsets)]
        records = [list(csv.reader(io.StringIO(p.decode("utf-8-sig"), newline=""))) for p in pieces]
        assert [r for rs in records for r in rs] == whole
        assert [before for _, before in cuts] == [sum(map(len, records[:k])) - 1 for k in range(1, parts)]


def _import_with_threads(tmp_path: Path, path: Path, threads: int, monkeypatch) -> tuple[list, list, object]:
    monkeypatch.setattr(importer, "SPLIT_MIN_BYTES", 1)
    cuts = []
    real_split = importer.split_in_parts
    monkeypatch.setattr(importer, "split_in_parts", lambda *args: cuts.append(real_split(*args)) or cuts[-1])
    with wh.connect(tmp_path / f"threads-{threads}.duckdb", threads=threads) as con:
        results = import_file(con, path, months=["2025-01"], source="aws")
        rows = con.execute(
            "SELECT * EXCLUDE (imported_at, import_id) FROM focus_raw ORDER BY billing_month, file_row_number"
        ).fetchall()
    return results, rows, cuts[0]


def test_one_part_per_thread_gives_the_rows_and_numbers_of_the_whole_file(tmp_path, monkeypatch):
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(700))
    _, whole_rows = _import(tmp_path, path, split=False, monkeypatch=monkeypatch)
    results, rows, parts = _import_with_threads(tmp_path, path, 6, monkeypatch)
    assert len(parts.files) == 6 and rows == whole_rows and results[0].rows == 700
    assert [r[4] for r in rows] == list(range(1, 701))


def test_a_middle_part_counted_wrong_is_never_kept(tmp_path, monkeypatch):
    """One part's count one too high leaves a gap before it and an overlap after it: the numbers still run from 1
    to the row count, but repeat, and the import is redone from the whole file."""
    path = write_focus(tmp_path / "aws_2025-01.csv", _rows(600))
    real_cuts = importer.record_cuts
    monkeypatch.setattr(importer, "record_cuts", lambda *args: [
        (c, n + (k == 1)) for k, (c, n) in enumerate(real_cuts(*args))])
    refusals = _refusals_of_the_parts(monkeypatch)
    results, rows, _ = _import_with_threads(tmp_path, path, 4, monkeypatch)
    assert refusals == ["row numbers 1..600 for 600 rows, 1 of them repeated"]
    assert [r[4] for r in rows] == list(range(1, 601)) and results[0].rows == 600


@pytest.mark.parametrize(("edit", "fields"), [(b" ", "56 field(s)"), (b",,", "58 fields")],
                         ids=["one-field-short", "one-field-too-many-the-last-empty"])
@pytest.mark.parametrize("bad_record", [40, 250])
def test_a_read_error_in_either_part_is_refused_as_the_whole_files(tmp_path, monkeypatch, bad_record, edit, fields):
    """A record DuckDB cannot read (one field short, or one too many whose last value is empty, as every row's
    is here), in the first or the second part: the parts' read fails, the import is redone from the whole file,
    and the refusal is the whole file's, naming its own line; no feeder is left behind. (The header is taken from
    the good file: DuckDB's sniffer would read a file this small whole and refuse it before any cut.)"""
    (tmp_path / "good").mkdir()
    good = write_focus(tmp_path / "good" / "aws_2025-01.csv", _rows(300))
    with wh.connect(tmp_path / "sniff.duckdb") as con:
        header = importer.header_mapping(con, good, "csv")
    monkeypatch.setattr(importer, "header_mapping", lambda *args: header)
    path = tmp_path / "aws_2025-01.csv"
    record = b",vm-%d,sim-node," % bad_record
    assert good.read_bytes().count(record) == 1
    path.write_bytes(good.read_bytes().replace(record, b",vm-%d%ssim-node," % (bad_record, edit)))
    refusals = _refusals_of_the_parts(monkeypatch)
    messages = []
    for split in (True, False):
        with pytest.raises(ImportRefused) as err:
            _import(tmp_path, path, split=split, monkeypatch=monkeypatch)
        messages.append(str(err.value))
    assert messages[0] == messages[1] and f"row {bad_record + 1} " in messages[0] and fields in messages[0]
    assert len(refusals) == 1 and not live_feeders()
