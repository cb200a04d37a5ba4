"""Stalls whose recorded end falls inside a call that started during
them, told to the tracer the way the watchdog's delivery does
(stackwatch.trace._note_watchdog), timed by the watchdog's clock:

- a hub stall whose end is read 1 ms before blocking() returns (the
  blocking call that made the stall; the watchdog's clock and the
  tracer's may differ by a little): the slice should take the call in;
- a deadline stall whose end is read 0.5 ms after waits() starts (a call
  that outlives the stall, as gevent.sleep does by switching away): the
  slice should end where waits() starts.

Traces itself to argv[1]; prints "done".  tests/test_trace_stalls.py
reads the trace."""

import sys
import time

import stackwatch
from stackwatch import _native
from told_stalls import tell


def blocking():
    time.sleep(0.05)


def short():
    time.sleep(0.02)


def waits(at):
    at.append(time.monotonic_ns())
    time.sleep(0.05)


def outer():
    hub_at = time.monotonic_ns()
    tell(_native.WDE_BLOCKED, _native.WD_HUB, hub_at)
    blocking()
    tell(_native.WDE_UNBLOCKED, _native.WD_HUB, 0,
           duration=(time.monotonic_ns() - 1000000 - hub_at) / 1e9)
    time.sleep(0.005)
    deadline_at = time.monotonic_ns()
    tell(_native.WDE_DEADLINE, _native.WD_DEADLINE, deadline_at)
    short()
    at = []
    waits(at)
    tell(_native.WDE_DEADLINE_END, _native.WD_DEADLINE, 0,
           duration=(at[0] + 500000 - deadline_at) / 1e9)


with stackwatch.Tracer(sys.argv[1]):
    outer()
    time.sleep(0.005)
print("done")
