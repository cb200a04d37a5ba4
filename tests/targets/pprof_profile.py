"""Profiles itself with stackwatch.Profiler for about 0.6 s while the
main thread runs pprof_burn and a thread named "pprof-sleeper" sleeps in
pprof_nap; writes the profile as pprof to argv[1] and prints a JSON line
with the samples taken and the wall time the samples add up to.

The tests expect `go tool pprof` to read the file and find the same
totals, the two functions and both threads' labels.
"""
import json
import sys
import threading
import time

import stackwatch


def pprof_burn(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1  # pprof-burn
    return x


def pprof_nap(seconds):
    time.sleep(seconds)  # pprof-nap


t = threading.Thread(target=pprof_nap, args=(1.0,), name="pprof-sleeper",
                     daemon=True)
t.start()
prof = stackwatch.Profiler(rate=200)
prof.start()
pprof_burn(0.6)
prof.stop()
prof.write(sys.argv[1], "pprof")
samples = prof.samples()
print(json.dumps({"samples": sum(s.count for s in samples),
                  "wall_ns": round(sum(s.wall for s in samples) * 1e9),
                  "stats_samples": prof.stats()["samples"]}))
