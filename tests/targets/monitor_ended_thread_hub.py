"""A gevent hub watched in a thread that then ends (its greenlet record
goes away, the watch stays). Prints the monitor's polls and CPU seconds
over the next second. The test expects the usual pace (5 ms polls at a
0.1 s threshold: ~200), not a spinning monitor thread.
"""
import threading
import time

import gevent
import stackwatch.monitor as m

m.start(max_blocking_time=0.1)


def in_thread():
    gevent.sleep(0.01)          # this thread's hub runs: watched


t = threading.Thread(target=in_thread)
t.start()
t.join()
time.sleep(0.3)                 # past the threshold
before = m.stats()
time.sleep(1.0)
after = m.stats()
print(after["polls"] - before["polls"],
      after["cpu_seconds"] - before["cpu_seconds"])
