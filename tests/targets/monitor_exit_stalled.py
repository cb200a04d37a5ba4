"""Exits while a deadline block and a gevent hub in daemon threads are
stalled (and a periodic function runs). The test expects a prompt, clean
exit after the "exiting ok=True" marker, with both stalls reported.
"""
import threading
import time

import stackwatch
from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import mark, of_type, wait_for

monitor.start(max_blocking_time=0.1)

def deadline_forever():
    with stackwatch.deadline(0.1, name="never-ends"):
        time.sleep(60)  # exit-deadline

def hub_forever():
    import gevent

    def stuck_greenlet():
        time.sleep(60)  # exit-hub

    gevent.spawn(stuck_greenlet).join()

def tick():
    pass

threading.Thread(target=deadline_forever, daemon=True).start()
threading.Thread(target=hub_forever, daemon=True).start()
monitor.add_monitoring_function(tick, 0.05)
ok = wait_for(lambda: of_type("DeadlineExceeded")
              and of_type("EventLoopBlocked"))
mark("exiting ok=%s" % ok)
