"""Serves the HTTP endpoint (on the address in argv[1], default any free
loopback port), prints "ready ADDRESS" and gets stuck in a C call that
holds the GIL (helpers/stuck.py).

The tests expect /threads and /metrics to answer at once, the stuck
thread's stack (stuck_in_c) in /threads.
"""
import sys
import time

import stackwatch
from stuck import stuck_in_c

server = stackwatch.serve(sys.argv[1] if len(sys.argv) > 1 else
                          "127.0.0.1:0", quiet=True)
time.sleep(0.6)  # thread names refreshed
print("ready", server.address, flush=True)
stuck_in_c()
