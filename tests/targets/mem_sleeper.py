"""Keeps 30 MiB under stackwatch.MemoryProfiler(argv[1]), says "ready"
and sleeps until Ctrl-C (SIGINT) ends it."""
import sys
import time

import stackwatch

prof = stackwatch.MemoryProfiler(sys.argv[1])
prof.enable()
kept = [bytes(4096) for _ in range(30 * 256)]
time.sleep(0.1)  # a line or more
print("ready", flush=True)
while True:
    time.sleep(1)
