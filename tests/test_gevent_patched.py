"""stackwatch started in a program that gevent.monkey.patch_all() patched
(issue 12's leftover): enable_dump(), monitor.start() and a Profiler,
started after patching (stackwatch imported after it too) or before it,
work, and the program goes on. Before the fix, each one started after
patching hung the program for good: stackwatch's Python thread was a
greenlet, blocked in a native wait with its hub. Each run has a timeout,
so a hang fails the test instead of hanging it."""

import re

import pytest

from conftest import run_target

pytest.importorskip("gevent")

TARGET = "gevent_patched_start"
ORDERS = ["after", "before"]


def run(feature, order):
    proc = run_target(TARGET, feature, order, timeout=60)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout.rstrip().endswith("end"), proc.stdout
    return proc


@pytest.mark.parametrize("order", ORDERS)
def test_dump_answers(order):
    proc = run("dump", order)
    out = proc.stdout
    assert "dump status 0" in out, (out, proc.stderr)
    # The run info (the GIL side's answer: stackwatch's service thread)
    # has the main greenlet waiting for the dump in ask_for_dump.
    assert "Greenlets, as a tree by spawner" in out, out
    assert re.search(r'File "gevent_patched_start\.py", line \d+, in '
                     r'ask_for_dump', out), out
    # Without stackwatch's own threads.
    assert "stackwatch/_service.py" not in out, out
    assert "stackwatch/_osthread.py" not in out, out


@pytest.mark.parametrize("order", ORDERS)
def test_monitor_reports_a_blocked_hub(order):
    proc = run("monitor", order)
    assert "gevent hub blocked for" in proc.stderr, proc.stderr
    assert re.search(r'File "gevent_patched_start\.py", line \d+, in '
                     r'block_the_hub', proc.stderr), proc.stderr


@pytest.mark.parametrize("order", ORDERS)
def test_profiler_samples(order):
    proc = run("profile", order)
    spin = sum(int(line.rpartition(" ")[2])
               for line in proc.stdout.splitlines()
               if line.startswith("spin (gevent_patched_start.py:"))
    assert spin >= 20, proc.stdout  # 0.5 s at 200 Hz
