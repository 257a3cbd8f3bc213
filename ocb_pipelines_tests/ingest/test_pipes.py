"""A byte range of a file handed over through a named pipe: fed whole, or said not to be; never a feeder left
waiting."""

import os
import threading
from pathlib import Path

import pytest

from ocb_pipelines.ingest import pipes

pytestmark = pytest.mark.skipif(not pipes.can_stream(), reason="named pipes fed by splice are Linux's")


def _source(tmp_path: Path) -> Path:
    path = tmp_path / "source.csv"
    path.write_bytes(b"".join(b"line %06d\n" % k for k in range(200_000)))  # 2.4 MB: more than a pipe holds
    return path


def _pipe(tmp_path: Path, name: str = "part.csv") -> Path:
    path = tmp_path / name
    pipes.make_pipe(path)
    return path


def live_feeders() -> list[str]:
    """The feeder threads still running (the parts' tests use it too)."""
    return [t.name for t in threading.enumerate() if t.name.startswith(pipes.FEEDER_THREAD_PREFIX)]


def test_a_range_is_fed_whole_after_its_prefix(tmp_path):
    source, pipe = _source(tmp_path), _pipe(tmp_path)
    data = source.read_bytes()
    with pipes.feeding([pipe], source, [(11, len(data) - 11)], [b"header\n"]) as not_fed_whole, open(pipe, "rb") as f:
        got = f.read()
        assert not_fed_whole() is None
    assert got == b"header\n" + data[11:-11]
    assert not live_feeders()


def test_a_reader_that_stops_early_leaves_the_range_not_fed_whole(tmp_path):
    source, pipe = _source(tmp_path), _pipe(tmp_path)
    with pipes.feeding([pipe], source, [(0, source.stat().st_size)], [b""]) as not_fed_whole:
        with open(pipe, "rb") as f:
            assert f.read(1000)  # then closed: the feeder's next write finds no reader
        problem = not_fed_whole()
    assert problem.startswith("part.csv was not fed whole (") and "Broken pipe" in problem
    assert not live_feeders()


def test_a_pipe_never_opened_lets_its_feeder_end(tmp_path):
    source, pipe = _source(tmp_path), _pipe(tmp_path)
    with pipes.feeding([pipe], source, [(0, 100)], [b""]):
        pass  # the read failed before this part was opened
    assert not live_feeders()


def test_a_source_shorter_than_its_range_is_not_fed_whole(tmp_path):
    source, pipe = _source(tmp_path), _pipe(tmp_path)
    size = source.stat().st_size
    with pipes.feeding([pipe], source, [(size - 10, size + 10)], [b""]) as not_fed_whole, open(pipe, "rb") as f:
        assert len(f.read()) == 10
        assert not_fed_whole() == f"part.csv was not fed whole (source.csv ended at byte {size}, before {size + 10})"


def test_every_pipe_is_fed_from_its_own_thread_at_once(tmp_path):
    """Two parts read one after the other by one reader would deadlock if they were fed in turn; they are not."""
    source = _source(tmp_path)
    first, second = _pipe(tmp_path, "a.csv"), _pipe(tmp_path, "b.csv")
    size = source.stat().st_size
    ranges = [(0, size // 2), (size // 2, size)]
    with pipes.feeding([first, second], source, ranges, [b"", b""]) as not_fed_whole:
        with open(second, "rb") as b, open(first, "rb") as a:
            assert a.read() + b.read() == source.read_bytes()
        assert not_fed_whole() is None
    assert os.path.exists(first) and not live_feeders()


def test_a_pipe_is_widened_to_a_mebibyte(tmp_path):
    """DuckDB reads a part in large buffers: a 64 KiB pipe made each read wait on its feeder many times over."""
    import fcntl

    source, pipe = _source(tmp_path), _pipe(tmp_path)
    with pipes.feeding([pipe], source, [(0, 10)], [b""]), open(pipe, "rb") as f:
        assert f.read() == source.read_bytes()[:10]  # written after the pipe was widened
        size = fcntl.fcntl(f.fileno(), fcntl.F_GETPIPE_SZ)
    assert size == pipes.PIPE_BYTES


def test_a_source_that_cannot_be_spliced_is_fed_through_a_buffer(tmp_path, monkeypatch):
    """Some file systems cannot splice (EINVAL): the feeder moves the bytes through a buffer instead."""
    import errno

    def refuse(*args, **kwargs):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(pipes.os, "splice", refuse)
    source, pipe = _source(tmp_path), _pipe(tmp_path)
    data = source.read_bytes()
    with pipes.feeding([pipe], source, [(5, len(data))], [b"head\n"]) as not_fed_whole, open(pipe, "rb") as f:
        assert f.read() == b"head\n" + data[5:]
        assert not_fed_whole() is None
