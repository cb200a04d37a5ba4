"""The error contract of the C edge: SW_E* codes become the right Python
exceptions, and a failure of the sampler thread is a sticky error that
the next stop raises and stats() shows."""

import errno
import os
import signal
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


# ---- every *_py file raises through the one mapping ---------------------


def test_watchdog_threshold_out_of_range_is_value_error():
    with pytest.raises(ValueError, match="threshold must be a number"):
        _native.watchdog_add(_native.WD_LOOP, -1.0, 0, "x")
    with pytest.raises(ValueError, match="threshold must be a number"):
        _native.watchdog_set_threshold(1, float("nan"))
    with pytest.raises(ValueError, match="unknown watch kind"):
        _native.watchdog_add(99, 1.0, 0, "x")


def test_too_many_watches_is_runtime_error():
    ids = []
    try:
        with pytest.raises(RuntimeError, match="too many watches"):
            for _ in range(257):
                ids.append(_native.watchdog_add(_native.WD_LOOP, 60.0, 0,
                                                "x"))
        assert 0 < len(ids) <= 256
    finally:
        for i in ids:
            _native.watchdog_remove(i)


def test_watchdog_report_descriptor_failure_is_os_error_with_errno():
    r, w = os.pipe()
    os.close(r)
    os.close(w)  # w is now a closed descriptor
    with pytest.raises(OSError) as info:
        _native.watchdog_start(report_fd=w)
    assert info.value.errno == errno.EBADF
    assert "cannot use descriptor" in str(info.value)
    _native.watchdog_stop()


def test_dump_on_an_unusable_signal_is_value_error():
    with pytest.raises(ValueError, match="cannot use signal"):
        _native.dump_enable(signal.SIGKILL, "/tmp", 0.1)
    assert _native.dump_signal() == 0


def test_dump_directory_too_long_is_value_error():
    with pytest.raises(ValueError, match="too long"):
        _native.dump_enable(signal.SIGRTMIN, "/" + "d" * 200, 0.1)
    assert _native.dump_signal() == 0


def test_slow_script_log_interval_out_of_range_is_value_error():
    with pytest.raises(ValueError, match="out of range"):
        _native.dump_log_start(2, 0.0, 0.1, 0)


def test_sigqueue_failure_is_os_error_with_errno():
    # A pid that cannot exist (above pid_max's ceiling).
    with pytest.raises(ProcessLookupError) as info:
        _native.sigqueue(2 ** 22 + 1, signal.SIGUSR1, 0)
    assert info.value.errno == errno.ESRCH


def test_bad_greenlet_id_and_thread_slot_are_value_errors():
    s = _native.Session()
    with pytest.raises(ValueError, match="bad greenlet id 0"):
        s.label_greenlet(0, "hub")
    with pytest.raises(ValueError, match="no thread slot 7"):
        s.name_thread(7, "worker")
