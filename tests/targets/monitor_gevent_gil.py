"""A gevent greenlet stuck for ~2.2 s in one C call that holds the GIL
(sum(range(N)), N calibrated on this machine) while max_blocking_time is
0.1 s. The test expects the hub's stall reported while the call still
runs (before the "returned after" marker), with the crunch/worker lines
in its stack, and the EventLoopBlocked event naming this greenlet and hub.
"""
import os
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import (
    all_events, calibrate, mark, of_type, result, wait_for)

import gevent

def crunch_in_c(n):
    return sum(range(n))  # crunch-line

N = calibrate(2.2, crunch_in_c)
monitor.start(max_blocking_time=0.1)

def worker():
    gevent.sleep(0.05)
    t0 = time.monotonic()
    crunch_in_c(N)  # worker-line
    took = time.monotonic() - t0
    mark("returned after %.3f s" % took)
    gevent.sleep(0.05)
    return took

g = gevent.spawn(worker)
took = g.get()
wait_for(lambda: of_type("EventLoopUnblocked"), sleep=gevent.sleep)
blocked = of_type("EventLoopBlocked")
result({"took": took, "pid": os.getpid(), "events": all_events(),
        "greenlet_is_worker": bool(blocked) and blocked[0].greenlet is g,
        "loop_is_hub": bool(blocked) and blocked[0].loop is gevent.get_hub()})
