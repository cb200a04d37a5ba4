"""Starts and stops one 200 Hz profiler three times (0.3 s running, 0.6 s
stopped) and prints its stats (JSON). The test expects sampling_seconds to
count only the running time.
"""
import json, time
import stackwatch
p = stackwatch.Profiler(rate=200)
for _ in range(3):
    p.start(); time.sleep(0.3); p.stop()
    time.sleep(0.6)        # stopped: not sampling time
print(json.dumps(p.stats()))
