"""A 0.4 s stall that ends just before the interpreter exits; argv[1] is
"deadline" (a deadline block) or "gevent" (a hub stall). The test expects
the stall's end line ("finished after"/"unblocked after") written.
"""
import sys
import time

import stackwatch
from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import mark

kind = sys.argv[1]
monitor.start(max_blocking_time=0.1)
if kind == "deadline":
    with stackwatch.deadline(0.1, name="ends-at-exit"):
        time.sleep(0.4)
else:
    import gevent

    def ends_at_exit():
        time.sleep(0.4)

    gevent.spawn(ends_at_exit).join()
mark("last line")
