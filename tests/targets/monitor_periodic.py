"""Periodic monitoring functions: one every 0.1 s (then removed), one that
always fails (dropped after 10 failures), one that fails 4 times out of 5
(kept). The test expects the call counts, the monitor thread as caller
and the failures reported.
"""
import threading
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import mark, result, wait_for

monitor.start(max_blocking_time=None)
calls = []

def tick():
    calls.append((time.monotonic(), threading.current_thread().name))

monitor.add_monitoring_function(tick, 0.1)
t0 = time.monotonic()
time.sleep(1.0)
window = time.monotonic() - t0
in_window = len(calls)
monitor.add_monitoring_function(tick, None)
time.sleep(0.2)  # a call in flight when it was removed ends
after_removal = len(calls)
time.sleep(0.6)
later = len(calls)

failures = []

def always_fails():
    failures.append(threading.current_thread().name)
    raise RuntimeError("periodic-boom %d" % len(failures))

monitor.add_monitoring_function(always_fails, 0.03)
wait_for(lambda: len(failures) >= 10)
time.sleep(0.6)  # 20 more periods: it must not be called again
mark("failures=%d" % len(failures))

flaky_calls = []

def flaky():
    flaky_calls.append(1)
    if len(flaky_calls) % 5:  # fails 4 times out of 5, never 10 in a row
        raise ValueError("flaky-boom")

monitor.add_monitoring_function(flaky, 0.02)
flaky_alive = wait_for(lambda: len(flaky_calls) >= 25)
monitor.add_monitoring_function(flaky, None)
result({"in_window": in_window, "window": window,
        "after_removal": after_removal, "later": later,
        "threads": sorted(set(name for _, name in calls)),
        "failures": failures, "flaky_calls": len(flaky_calls),
        "flaky_alive": flaky_alive, "running": monitor.is_running()})
