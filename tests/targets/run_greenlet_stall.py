"""A gevent program: one greenlet idles (idle_one, in gevent.sleep), another
blocks the hub 0.4 s in time.sleep (blocker).

The test expects `stackwatch run --format-run-info` to write the stall
report, then the run information: every thread, and every greenlet with
its state and stack (idle_one suspended at its sleep line).
"""
import time

import gevent


def idle_one():
    gevent.sleep(5)  # idle-sleep


def blocker():
    time.sleep(0.4)


a = gevent.spawn(idle_one)
gevent.spawn(blocker).join()
gevent.sleep(0.1)
