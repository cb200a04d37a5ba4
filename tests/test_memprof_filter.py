"""The memory profiler's filter (issue 14): only the allocations whose
Python stack passes through code under one of the path prefixes are
counted (filter=, ProcessProfiler.setFilter, mem record --filter)."""
import os

import pytest

from conftest import run_cli, run_target, target_path
from helpers.memfiles import by_thread_name, read_profile, the_pid_dir

MiB = 1024 * 1024
KEPT = os.path.join(os.path.dirname(target_path("mem_filter")),
                    "mem_filter_kept") + os.sep


def _near(value, expected, share=0.05):
    return abs(value - expected) <= expected * share


@pytest.mark.parametrize("profile", ["python", "both", "seed"])
def test_the_filter_keeps_exactly_the_allocations_under_its_prefix(
        tmp_path, profile):
    run_target("mem_filter", profile, str(tmp_path), KEPT, check=True)
    _check(by_thread_name(read_profile(the_pid_dir(tmp_path))))


def _check(last):
    # 30 MiB in kept code, 7 MiB in other code called by kept code, 5 MiB
    # in kept code called by other code; not the 10 MiB of other code
    # called from outside the prefix.
    worker = last["worker"]
    assert _near(worker["py_live"], 42 * MiB, 0.03), worker
    # A thread that never runs kept code counts nothing; nor the main
    # thread's allocations outside it.
    for name in ("outside", "MainThread"):
        if name in last:
            assert last[name]["py_alloc"] < MiB // 4, last[name]


def test_mem_record_filter(tmp_path):
    out = tmp_path / "prof"
    proc = run_cli("mem", "record", "-o", str(out), "--filter",
                   "/nonexistent-prefix", "--filter", KEPT,
                   target_path("mem_filter"), "cli")
    assert proc.returncode == 0, proc.stderr
    _check(by_thread_name(read_profile(the_pid_dir(out))))


def test_bad_filter_is_refused_in_one_line(tmp_path):
    from stackwatch.memory import MemoryProfiler

    for bad in ("", [""], [1], 5):
        with pytest.raises(ValueError, match="filter must be a path prefix"):
            MemoryProfiler(str(tmp_path), filter=bad)
