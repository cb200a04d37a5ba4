"""A thread "climber" recursing 300 deep and back for 3 s under a 1 kHz
profiler; prints the climber's stacks (names, counts) and the stats
(JSON). The test expects every sample in the leaf to have the whole stack,
none torn.
"""
import json, sys, threading, time
import stackwatch

DEPTH = 300  # past the first 16 KiB data-stack chunk on 3.11+
# 3.9/3.10 walk frame objects one read each (~0.3 ms for this stack); a
# stack that changes faster than that is never read whole there, and such
# samples are dropped, so the leaf waits longer on those versions.
SPIN = 0.0002 if sys.version_info >= (3, 11) else 0.002

def spin():
    end = time.perf_counter() + SPIN
    while time.perf_counter() < end:
        pass

def descend(depth):
    if depth == 0:
        return spin()
    return descend(depth - 1)

def climber():
    # Goes up and down the whole depth all the time, so the sampler often
    # finds the stack grown or shrunk between its reads.
    end = time.perf_counter() + 3
    while time.perf_counter() < end:
        descend(DEPTH)

p = stackwatch.Profiler(rate=1000)
t = threading.Thread(target=climber, name="climber")
with p:
    t.start(); t.join()
rows = [([f.name for f in s.frames], s.count) for s in p.samples()
        if s.thread == "climber"]
print(json.dumps({"rows": rows, "stats": p.stats()}))
