"""Spends 2 s creating objects whose __init__ does the work, under a 500 Hz
profiler; prints the main thread's stacks (JSON). The test expects most
samples to have __init__ in their stack (3.13's shim frames are not taken
for torn stacks).
"""
import json, time
import stackwatch

class Record:
    def __init__(self):
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        self.total = helper()

def helper():
    return sum(i * i for i in range(2000))

def main():
    end = time.perf_counter() + 2
    while time.perf_counter() < end:
        Record()

p = stackwatch.Profiler(rate=500)
with p:
    main()
rows = [([f.name for f in s.frames], s.count) for s in p.samples()
        if s.thread == "MainThread"]
print(json.dumps(rows))
