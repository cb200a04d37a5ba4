"""Two stalls on one track that would cross: the way the watchdog's
delivery hands them to the tracer (stackwatch.trace._note_watchdog), a
deadline stall that starts inside outer() and ends before it returns,
and a hub stall that starts after the deadline's and ends after outer()
returns (so the writer shortens it to outer()'s end, past the deadline's
end). Timed by the clock the watchdog uses; the stalls are told, not
waited for. Traces itself to argv[1]; prints "done".
tests/test_trace_stalls.py expects every track to nest (Perfetto drops a
complete event that crosses another on its track)."""

import sys
import time

import stackwatch
from stackwatch import _native
from told_stalls import tell


def inner():
    time.sleep(0.01)


def outer(ends):
    deadline_at = time.monotonic_ns()
    tell(_native.WDE_DEADLINE, _native.WD_DEADLINE, deadline_at)
    hub_at = time.monotonic_ns()
    tell(_native.WDE_BLOCKED, _native.WD_HUB, hub_at)
    inner()
    ends.append((deadline_at, hub_at, time.monotonic_ns()))
    time.sleep(0.005)


with stackwatch.Tracer(sys.argv[1]):
    ends = []
    outer(ends)
    deadline_at, hub_at, deadline_end = ends[0]
    tell(_native.WDE_DEADLINE_END, _native.WD_DEADLINE, 0,
           duration=(deadline_end - deadline_at) / 1e9)
    time.sleep(0.005)
    tell(_native.WDE_UNBLOCKED, _native.WD_HUB, 0,
           duration=(time.monotonic_ns() - hub_at) / 1e9)
print("done")
