"""The error contract of the C edge: SW_E* codes become the right Python
exceptions, and a failure of the sampler thread is a sticky error that
the next stop raises and stats() shows."""

import time

import pytest

from stackwatch import _native


def test_rate_out_of_range_is_value_error_from_c():
    s = _native.Session()
    with pytest.raises(ValueError, match="1 and 1000 Hz"):
        _native.sampler_start(s, rate=5000.0)
    assert not _native.sampler_running()


def test_second_sampler_is_runtime_error():
    a, b = _native.Session(), _native.Session()
    _native.sampler_start(a, rate=100.0)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            _native.sampler_start(b, rate=100.0)
    finally:
        _native.sampler_stop()


def test_sampler_thread_failure_is_sticky_and_raised_by_stop():
    s = _native.Session()
    _native._test_sampler_fail_next()
    _native.sampler_start(s, rate=1000.0)
    deadline = time.monotonic() + 5
    while _native.sampler_running() and time.monotonic() < deadline:
        time.sleep(0.01)
    st = s.stats()
    assert st["error"] is not None and "work buffers" in st["error"]
    assert st["passes"] == 0
    with pytest.raises(MemoryError, match="work buffers"):
        _native.sampler_stop()
    # Raised once; the session keeps showing it.
    _native.sampler_stop()
    assert "work buffers" in s.stats()["error"]


def test_healthy_run_has_no_error_and_no_dropped_labels():
    s = _native.Session()
    _native.sampler_start(s, rate=1000.0)
    time.sleep(0.05)
    _native.sampler_stop()
    st = s.stats()
    assert st["error"] is None
    assert st["labels_dropped"] == 0
    assert st["passes"] > 0


def test_thread_name_refused_by_a_full_string_table_is_counted():
    s = _native.Session(max_string_bytes=64)
    _native.sampler_start(s, rate=1000.0)
    time.sleep(0.05)
    _native.sampler_stop()
    assert s.threads(), "the sampler saw no thread"
    slot = s.threads()[0][0]
    s.name_thread(slot, "x" * 4096)
    assert s.stats()["labels_dropped"] == 1
