"""Child of bench/sampler_rate.py: samples this process for SECONDS at
RATE Hz while it does KIND of work, then prints the profiler's stats and
each thread's sample count as JSON.

    python bench/sampler_rate_target.py KIND RATE SECONDS

KIND: ``idle`` (the main thread sleeps), ``busy`` (the main thread makes
Python calls without pause: its stack changes all the time), ``threads``
(three threads make calls, a fourth hashes in C with the GIL released,
the main thread waits: the machine's two cores are busy).  The workers
run before the profiler starts and until it stopped.
"""

import hashlib
import json
import sys
import threading
import time

import stackwatch


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main():
    kind, rate, seconds = sys.argv[1], float(sys.argv[2]), \
        float(sys.argv[3])
    done = threading.Event()
    workers = []
    if kind == "threads":
        ready = threading.Barrier(5)

        def calls():
            ready.wait()
            while not done.is_set():
                fib(15)

        def hashing():
            data = bytes(range(256)) * 4096
            ready.wait()
            while not done.is_set():
                hashlib.sha256(data).digest()

        workers = [threading.Thread(target=calls) for _ in range(3)]
        workers.append(threading.Thread(target=hashing))
        for t in workers:
            t.start()
        ready.wait()
    elif kind not in ("idle", "busy"):
        sys.exit("unknown kind %r" % kind)
    prof = stackwatch.Profiler(rate=rate)
    prof.start()
    if kind == "busy":
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            fib(15)
    else:
        time.sleep(seconds)
    prof.stop()
    done.set()
    for t in workers:
        t.join()
    counts = {}
    for s in prof.samples():
        counts[s.ident] = counts.get(s.ident, 0) + s.count
    print(json.dumps({"stats": prof.stats(),
                      "counts": sorted(counts.values())}))


if __name__ == "__main__":
    main()
