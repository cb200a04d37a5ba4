"""A gevent program that never starts the watchdog itself: a greenlet
blocks the hub in time.sleep (hub_block). Prints "done".
tests/test_trace_stalls.py traces it with `stackwatch trace --monitor`
and expects the stall as a slice on the blocking greenlet's track."""

import time

import gevent


def hub_block():
    time.sleep(0.4)  # not gevent's sleep: the hub cannot run


def blocker():
    gevent.sleep(0.05)
    hub_block()


gevent.joinall([gevent.spawn(blocker)])
gevent.sleep(0.3)  # the monitor thread delivers the end event meanwhile
print("done")
