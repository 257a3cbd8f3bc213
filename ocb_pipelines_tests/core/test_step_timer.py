"""Steps are measured only while someone records them: wall and CPU seconds, occurrences, the peak memory so far."""

from ocb_pipelines.core.step_timer import peak_rss_mb, recording_steps, timed_step


def test_steps_are_timed_counted_and_carry_the_peak_memory_when_recorded():
    with recording_steps() as steps:
        for _ in range(2):
            with timed_step("load"):
                sum(range(10_000))
        with timed_step("gate"):
            block = bytearray(64 * 1024 * 1024)  # touched: resident
            block[::4096] = b"\x01" * len(block[::4096])
    load, gate = steps["load"].as_dict(), steps["gate"].as_dict()
    assert list(steps) == ["load", "gate"] and load["count"] == 2 and gate["count"] == 1
    assert load["wall_s"] >= 0 and load["cpu_s"] >= 0
    assert 0 < load["peak_rss_mb"] <= gate["peak_rss_mb"] <= round(peak_rss_mb())
    assert gate["peak_rss_mb"] >= 64  # the peak includes what the step held


def test_nothing_is_recorded_outside_a_recording():
    with timed_step("load"):
        pass
    with recording_steps() as steps:
        pass
    assert steps == {}
