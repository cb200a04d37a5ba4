"""stackwatch.deadline blocks and decorators in a thread: a slow block
(~1 s C call against 0.2 s), a fast one, a slow and a fast decorated
function. The test expects reports and Deadline* events only for the slow
ones, with their dl-* lines, thread and ids; the monitor starts itself.
"""
import threading
import time

import stackwatch
from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import (
    all_events, calibrate, mark, of_type, result, wait_for)

def crunch_in_c(n):
    return sum(range(n))  # dl-crunch

def slow_part(n):
    crunch_in_c(n)  # dl-slow-part

@stackwatch.deadline(0.2)
def decorated_slow():
    time.sleep(0.6)  # dl-decorated

@stackwatch.deadline(2.0)
def decorated_fast():
    time.sleep(0.01)

N = calibrate(1.0, crunch_in_c)
out = {}

def in_thread():
    out["running_before"] = monitor.is_running()
    t0 = time.monotonic()
    with stackwatch.deadline(0.2, name="slow-block") as d:
        slow_part(N)
    out["slow_took"] = time.monotonic() - t0
    mark("slow block done")
    out["slow_exceeded"] = d.exceeded
    with stackwatch.deadline(2.0, name="fast-block") as d2:
        time.sleep(0.05)
    out["fast_exceeded"] = d2.exceeded
    decorated_slow()
    mark("decorated_slow done")
    decorated_fast()
    out["ident"] = threading.get_ident()
    out["native_id"] = threading.get_native_id()

t = threading.Thread(target=in_thread, name="worker-thread")
t.start()
t.join()
wait_for(lambda: len(of_type("DeadlineFinished")) >= 2)
time.sleep(0.3)  # anything else would show up by now
out["events"] = all_events()
result(out)
