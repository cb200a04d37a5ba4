"""Exits while a slow periodic function (0.2 s a call) is most likely in
flight. The test expects a prompt, clean exit after the "exiting ok=True"
marker.
"""
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import mark, wait_for

monitor.start(max_blocking_time=0.1)
calls = []

def slow_tick():
    calls.append(1)
    time.sleep(0.2)

monitor.add_monitoring_function(slow_tick, 0.05)
ok = wait_for(lambda: len(calls) >= 3)
time.sleep(0.1)  # most likely in the middle of a call now
mark("exiting ok=%s" % ok)
