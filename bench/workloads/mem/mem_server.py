"""A server-like workload for the memory profiler's own memory: eight
threads handle "requests" (a dict of strings per request, a response
built and dropped) for argv[1] seconds, with a bounded cache of recent
responses that the threads share (so blocks are freed by other threads
than the ones that made them). With argv[2] a directory, the run is
profiled (stacks on) and the profiler's own counters printed; with
argv[3] too, a "timeline" line every argv[3] seconds: time, requests
handled, RSS, the side table's resident bytes, the granule map's leaves
and its census (_mem_census: resident pages of words, and those of them
that describe address space no longer mapped or mapped but idle)."""
import collections
import os
import sys
import threading
import time

seconds = float(sys.argv[1])
prof = None
if len(sys.argv) > 2:
    import stackwatch
    from stackwatch import _native

    # STACKWATCH_BENCH_ARENA_HOOK=0: the profiler as it was before it
    # hooked pymalloc's arena allocator (for before/after timelines).
    _native._test_mem_arena_hook(
        os.environ.get("STACKWATCH_BENCH_ARENA_HOOK", "1") != "0")
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


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timeline(every):
    from stackwatch import _native

    t0 = time.monotonic()
    print("timeline t handled rss_mib table_mib leaves pages unmapped idle "
          "empty zero_page arenas_freed given_kib", flush=True)
    while time.monotonic() + every < stop:
        time.sleep(every)
        st = prof.stats()
        c = _native._mem_census()
        print("timeline %.0f %d %.1f %.1f %d %d %d %d %d %d %d %d"
              % (time.monotonic() - t0, handled[0], rss() / 2**20,
                 st["table_bytes"] / 2**20, st["table_leaves"], c["pages"],
                 c["pages_unmapped"], c["pages_idle"], c["pages_empty"],
                 c["pages_shared"],
                 st["arenas_freed"], st["table_given"] // 1024), flush=True)


threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
if prof is not None and len(sys.argv) > 3:
    threads.append(threading.Thread(target=timeline,
                                    args=(float(sys.argv[3]),)))
for t in threads:
    t.start()
for t in threads:
    t.join()


out = {"handled": handled[0], "rss": rss()}
if prof is not None:
    out.update(prof.stats())
    prof.disable()
    size = sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(prof.directory) for f in files)
    out["files"] = size
print("result", out)
