"""A server-like workload for the memory profiler's own memory: eight
threads handle "requests" (a dict of strings per request, a response
built and dropped) for argv[1] seconds, with a bounded cache of recent
responses that the threads share (so blocks are freed by other threads
than the ones that made them). With argv[2] a directory, the run is
profiled (stacks on) and the profiler's own counters printed."""
import collections
import os
import sys
import threading
import time

seconds = float(sys.argv[1])
prof = None
if len(sys.argv) > 2:
    import stackwatch

    prof = stackwatch.MemoryProfiler(sys.argv[2], stacks=True)
    prof.enable()

cache = collections.OrderedDict()
lock = threading.Lock()
stop = time.monotonic() + seconds
handled = [0]


def worker(n):
    i = 0
    while time.monotonic() < stop:
        i += 1
        req = {"path": "/item/%d/%d" % (n, i), "headers": {
            "h%d" % k: "v" * (k * 7) for k in range(12)}}
        body = "".join("%s=%s;" % kv for kv in req["headers"].items()) * 4
        with lock:
            cache[(n, i)] = body
            while len(cache) > 20000:
                cache.popitem(last=False)
            handled[0] += 1


threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


out = {"handled": handled[0], "rss": rss()}
if prof is not None:
    out.update(prof.stats())
    prof.disable()
    size = sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(prof.directory) for f in files)
    out["files"] = size
print("result", out)
