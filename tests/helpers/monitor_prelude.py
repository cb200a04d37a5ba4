"""Imported by the child processes of tests/test_monitor.py
(tests/targets/monitor_*.py; never by the test process): records the
watchdog's events, writes markers and the result, and calibrates a C
call that holds the GIL.

Protocol with the parent:
- stderr: the watchdog's reports, and marker lines "@@ text" written
  (flushed) by mark(); both go down the same pipe, so their order there
  is the order in which they were written;
- stdout: one line "@@RESULT <json>" written by result().
"""

import json
import os
import sys
import threading
import time

from stackwatch import events

#: (event, name of the thread that delivered it), in order of delivery.
EVENTS = []


def _record(ev):
    EVENTS.append((ev, threading.current_thread().name))


events.subscribe(_record)


def of_type(name):
    """The recorded events of one class (by name)."""
    return [e for e, _ in EVENTS if type(e).__name__ == name]


def ended(function):
    """Whether a stall of a loop in `function` (the last frame of an
    EventLoopBlocked) was recorded, and its end (the EventLoopUnblocked
    after it). On a loaded machine other stalls come and go (a process
    not scheduled for 0.1 s is a stall of its loop too): counting events
    would take theirs for the one waited for."""
    blocked = False
    for e, _ in EVENTS:
        kind = type(e).__name__
        if (kind == "EventLoopBlocked" and getattr(e, "stack", None)
                and e.stack[-1].name == function):
            blocked = True
        elif kind == "EventLoopUnblocked" and blocked:
            return True
    return False


def wait_for(predicate, timeout=20.0, sleep=time.sleep):
    """Polls predicate() (with sleep: gevent.sleep in a gevent program,
    where time.sleep would block the hub) until true; False on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        sleep(0.02)
    return bool(predicate())


def mark(text):
    """A marker on stderr, in the same pipe as the watchdog's reports."""
    sys.stderr.write("@@ %s\n" % text)
    sys.stderr.flush()


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, events.MemoryInfo):
        return value._asdict()
    if isinstance(value, events.Frame):
        return list(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def describe(ev, thread=None):
    """An event as a JSON-friendly dict (objects as their repr)."""
    d = {"type": type(ev).__name__, "delivered_on": thread}
    for field in ev._fields:
        d[field] = _plain(getattr(ev, field))
    return d


def all_events():
    return [describe(e, t) for e, t in EVENTS]


def result(obj):
    sys.stdout.write("@@RESULT %s\n" % json.dumps(obj))
    sys.stdout.flush()


def rss():
    """This process's resident set size in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def calibrate(seconds, fn):
    """n such that fn(n) (a single C call, e.g. sum(range(n))) costs about
    `seconds` of this thread's CPU time. Measured on CPU time, not wall
    time, so that other processes running meanwhile do not skew it, and
    on a large n (short runs cost more per item: a smaller n would make
    the real call shorter than asked)."""
    n = 10_000_000
    best = None
    for _ in range(2):
        t0 = time.thread_time()
        fn(n)
        spent = time.thread_time() - t0
        best = spent if best is None else min(best, spent)
    return int(n * seconds / max(best, 1e-6))
