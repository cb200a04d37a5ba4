"""monitor.stop() and start() again with a new threshold, stalling before,
while stopped and after. The test expects the stalls before and after
reported (with their thresholds), none while stopped.
"""
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import EVENTS, all_events, mark, of_type, result, wait_for

import gevent

def stall_one():
    time.sleep(0.3)

def stall_while_stopped():
    time.sleep(0.3)

def stall_after_restart():
    time.sleep(0.3)

monitor.start(max_blocking_time=0.1)
gevent.spawn(stall_one).join()
wait_for(lambda: of_type("EventLoopUnblocked"), sleep=gevent.sleep)
monitor.stop()
out = {"running_after_stop": monitor.is_running(),
       "settings_after_stop": monitor.settings()}
gevent.spawn(stall_while_stopped).join()
gevent.sleep(0.4)
out["events_while_stopped"] = len(EVENTS) - 2
mark("restarting")
monitor.start(max_blocking_time=0.2)
out["running_after_restart"] = monitor.is_running()
gevent.spawn(stall_after_restart).join()
wait_for(lambda: len(of_type("EventLoopUnblocked")) >= 2, sleep=gevent.sleep)
out["events"] = all_events()
result(out)
