"""Serves the HTTP endpoint and runs the watchdog (reports to stderr),
prints "ready ADDRESS", then for each line "stall" read from stdin runs a
deadline block of 0.05 s that takes 0.3 s, and prints "stalled" after it.

The tests expect /metrics' deadline stall counter (and the stall-duration
histogram) to go up by one per stall, as seen by a real Prometheus.
"""
import sys
import time

import stackwatch
from stackwatch import monitor

server = stackwatch.serve("127.0.0.1:0", quiet=True)
monitor.start()
print("ready", server.address, flush=True)
for line in sys.stdin:
    if line.strip() == "stall":
        with stackwatch.deadline(0.05, name="forced"):
            time.sleep(0.3)  # http-stall
        time.sleep(0.1)  # the end of the stall observed
        print("stalled", flush=True)
