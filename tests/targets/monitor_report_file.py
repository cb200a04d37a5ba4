"""Reports to a file given by path (argv[1], new) then to another given as
a pathlib.Path (argv[2], existing, appended to); one stall each. The test
expects each stall in its own file only, the new file 0600.
"""
import pathlib
import sys
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import all_events, ended, result, wait_for

import gevent

new_path, old_path = sys.argv[1], sys.argv[2]
monitor.start(max_blocking_time=0.1, report_to=new_path)

def stall_to_new_file():
    time.sleep(0.3)

def stall_to_old_file():
    time.sleep(0.3)

gevent.spawn(stall_to_new_file).join()
# (Its end line too, before the target changes. Nothing is imported
# between the stalls: an import on the watched loop can take 0.1 s on a
# loaded machine, a stall of its own.)
wait_for(lambda: ended("stall_to_new_file"), sleep=gevent.sleep)
monitor.start(max_blocking_time=0.1, report_to=pathlib.Path(old_path))
gevent.spawn(stall_to_old_file).join()
wait_for(lambda: ended("stall_to_old_file"), sleep=gevent.sleep)
monitor.stop()
result({"events": all_events()})
