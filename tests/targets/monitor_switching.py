"""Six greenlets switching through the hub ~15,000 times a second for 5 s
under a 0.1 s threshold, then one real 0.4 s stall (the control). The test
expects no report during the switching (except real gaps it records) and
the control stall reported.
"""
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import all_events, mark, of_type, result, wait_for

import gevent

SECONDS = 5.0
#: Round trips through the hub per second, all greenlets together: a
#: greenlet ahead of the pace sleeps 1 ms, so that the hub also waits in
#: epoll in between, as in a real server.
PACE = 15_000
monitor.start(max_blocking_time=0.1)
total = [0]
t0 = time.monotonic()
#: The end of the last round trip, and the gaps of more than 0.1 s
#: between two (the process starved by the machine, the GIL taken by
#: another thread...): real stalls, which the monitor may report.
last = [t0]
gaps = []

def spinner():
    end = t0 + SECONDS
    while True:
        now = time.monotonic()
        if now - last[0] > 0.1:
            gaps.append(now - last[0])
        last[0] = now
        if now >= end:
            break
        if total[0] > PACE * (now - t0):
            gevent.sleep(0.001)
        else:
            gevent.sleep(0)
            total[0] += 1

gevent.joinall([gevent.spawn(spinner) for i in range(6)])
elapsed = time.monotonic() - t0
rate = total[0] / elapsed
print("round trips through the hub: %.0f per second" % rate, flush=True)
watches = monitor.stats()["watches"]
events_during = all_events()
mark("switching done")

# The control: the same monitor does report a real stall.
def control_stall():
    time.sleep(0.4)  # sw-control

gevent.spawn(control_stall).join()
wait_for(lambda: of_type("EventLoopUnblocked"), sleep=gevent.sleep)
result({"rate": rate, "elapsed": elapsed, "watches": watches, "gaps": gaps,
        "events_during": events_during, "events": all_events()})
