"""A program that starts the watchdog itself while `stackwatch trace`
traces it: a gevent greenlet blocks the hub in time.sleep (hub_block),
then a `deadline()` block runs past its limit (slow_part).  Prints
"done".  tests/test_trace_stalls.py expects each stall as a slice on the
stalled track, from the stall's start to its end."""

import time

import gevent

import stackwatch
from stackwatch import monitor


def hub_block():
    time.sleep(0.4)  # not gevent's sleep: the hub cannot run


def blocker():
    gevent.sleep(0.05)
    hub_block()


def slow_part():
    time.sleep(0.35)


def in_deadline():
    with stackwatch.deadline(0.1, name="slow-part"):
        slow_part()


monitor.start(max_blocking_time=0.1)
gevent.joinall([gevent.spawn(blocker)])
in_deadline()
time.sleep(0.3)  # the monitor thread delivers the end events meanwhile
monitor.stop()
print("done")
