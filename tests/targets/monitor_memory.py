"""Allocates 160 MiB against a limit of RSS + 64 MiB, then frees it. The
test expects one MemoryUsageThresholdExceeded then one
MemoryUsageUnderThreshold, nothing before the allocation.
"""
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import all_events, of_type, result, rss, wait_for

import gc

SIZE = 160 << 20
base = rss()
limit = base + (64 << 20)
monitor.start(max_blocking_time=None, max_memory_usage=limit,
              memory_monitor_period=0.05)
time.sleep(0.3)
quiet_before = all_events()
buf = bytearray(SIZE)
for i in range(0, SIZE, 4096):
    buf[i] = 1  # every page resident
peak = rss()
exceeded = wait_for(lambda: of_type("MemoryUsageThresholdExceeded"), 10)
time.sleep(0.3)  # a few more samples at the peak
peak = max(peak, rss())
del buf
gc.collect()
after = rss()
under = wait_for(lambda: of_type("MemoryUsageUnderThreshold"), 10)
time.sleep(0.5)  # no more events may come
result({"base": base, "limit": limit, "peak": peak, "after": after,
        "quiet_before": quiet_before, "events": all_events()})
