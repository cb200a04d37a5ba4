"""Forks while the monitor watches the hub; the child and the parent each
stall 0.4 s. The test expects each stall reported by its own process
only, with the fork-* lines and the process's own tid.
"""
import json
import os
import sys
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import EVENTS, all_events, ended, mark, result, wait_for

import gevent

monitor.start(max_blocking_time=0.1)
gevent.sleep(0.05)  # the hub runs, and is watched

def child_stall():
    time.sleep(0.4)  # fork-child

def parent_stall():
    time.sleep(0.4)  # fork-parent

parent_pid = os.getpid()
pid = os.fork()
if pid == 0:
    gevent.spawn(child_stall).join()
    wait_for(lambda: ended("child_stall"), 10, sleep=gevent.sleep)
    mark("child %d running=%s events=%s" % (
        os.getpid(), monitor.is_running(), json.dumps(
            [[type(e).__name__, e.stack[-1].name if getattr(e, "stack", None)
              else None] for e, _ in EVENTS])))
    sys.exit(0)

status = None
end = time.monotonic() + 30
while time.monotonic() < end:  # without blocking the hub
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    gevent.sleep(0.02)
mark("parent saw the child exit")
events_while_child = all_events()
gevent.spawn(parent_stall).join()
wait_for(lambda: ended("parent_stall"), 10, sleep=gevent.sleep)
result({"child_pid": pid, "parent_pid": parent_pid,
        "child_exit": None if status is None
        else os.waitstatus_to_exitcode(status),
        "events_while_child": events_while_child, "events": all_events()})
