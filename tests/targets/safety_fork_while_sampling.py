"""Forks 40 times while a 1 kHz profiler samples a busy thread; in each
child the inherited profiler samples the child (a fresh profile of its
own, for the parent), then the child profiles itself with a profiler of
its own for 0.1 s (which takes over) and exits 0 if it saw spin (3
otherwise). Prints the children's statuses and the parent's samples
(JSON). The test expects 40 zeros and samples.
"""
import json, os, threading, time
import stackwatch
from stackwatch import _native
from spin import spin

def child():
    # The inherited profiler samples this child, into a fresh profile;
    # no lock is held: we can start our own, which takes over.
    assert _native.sampler_running()
    assert stackwatch.profiler._active is parent_profiler
    assert parent_profiler.stats()["samples"] < 50
    p = stackwatch.Profiler(rate=500)
    with p:
        end = time.monotonic() + 0.1
        while time.monotonic() < end:
            spin(10000)
    names = {f.name for s in p.samples() for f in s.frames}
    os._exit(0 if "spin" in names else 3)

p = parent_profiler = stackwatch.Profiler(rate=1000)
p.start()
busy = threading.Thread(target=lambda: [spin(10000) for _ in range(2000)])
busy.start()
statuses = []
for i in range(40):
    pid = os.fork()
    if pid == 0:
        child()
    _, status = os.waitpid(pid, 0)
    statuses.append(status)
busy.join()
assert _native.sampler_running()
p.stop()
print(json.dumps({"statuses": statuses, "samples": p.stats()["samples"]}))
