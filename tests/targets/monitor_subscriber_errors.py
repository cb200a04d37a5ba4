"""An event subscriber that raises, next to one that works, over two gevent
stalls. The test expects the good subscriber to get all four events and
the error reported without stopping delivery.
"""
import time

from stackwatch import events, monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import EVENTS, result, wait_for

import gevent

got = []

def bad_subscriber(ev):
    raise RuntimeError("bad-subscriber-boom")

def good_subscriber(ev):
    got.append(type(ev).__name__)

events.subscribe(bad_subscriber)
events.subscribe(good_subscriber)
monitor.start(max_blocking_time=0.1)

def first_stall():
    time.sleep(0.4)  # sub-first

def second_stall():
    time.sleep(0.4)  # sub-second

gevent.spawn(first_stall).join()
wait_for(lambda: len(got) >= 2, sleep=gevent.sleep)
gevent.sleep(0.3)
gevent.spawn(second_stall).join()
wait_for(lambda: len(got) >= 4, sleep=gevent.sleep)
gevent.sleep(0.2)
result({"got": got, "recorded": [type(e).__name__ for e, _ in EVENTS]})
