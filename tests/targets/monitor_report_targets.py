"""Reports to None, to the "stackwatch" logger (log=True) and to a stream
without a file descriptor; one stall each (0.6 s against 0.1 s: with 0.3
s, the monitor's thread once got no CPU for the whole stall on a loaded
machine, which missed it). The test expects each report where it was
sent and nowhere else.
"""
import sys
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import all_events, ended, result, wait_for

import io
import logging

import gevent

logging.basicConfig(stream=sys.stdout, level=logging.WARNING,
                    format="LOG|%(name)s|%(levelname)s|%(message)s")

def stall_silent():
    time.sleep(0.6)

def stall_logged():
    time.sleep(0.6)

def stall_to_stream():
    time.sleep(0.6)

monitor.start(max_blocking_time=0.1, report_to=None)
gevent.spawn(stall_silent).join()
wait_for(lambda: ended("stall_silent"), sleep=gevent.sleep)

monitor.start(max_blocking_time=0.1, report_to=None, log=True)
gevent.spawn(stall_logged).join()
wait_for(lambda: ended("stall_logged"), sleep=gevent.sleep)

stream = io.StringIO()  # no file descriptor: written by the Python side
monitor.start(max_blocking_time=0.1, report_to=stream)
gevent.spawn(stall_to_stream).join()
wait_for(lambda: ended("stall_to_stream"), sleep=gevent.sleep)
result({"events": all_events(), "stream": stream.getvalue()})
