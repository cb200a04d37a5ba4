"""Many gevent greenlets under stackwatch.MemoryProfiler(argv[1],
greenlets=True), as a server spawning one per request would: 40 rounds
of 100 greenlets (4000 in all, more than the 3072 counted at once) that
each allocate 64 KiB and free them; then 300 alive at once (more than the
256 greenlet files of a profile) that each keep 64 KiB until the profile
ends. Prints the profiler's stats() as JSON.

argv: DIR."""
import gc
import json
import sys

import gevent
import gevent.event

import stackwatch

CHUNK = 4096
kept = []
done = gevent.event.Event()


def request():
    blocks = [bytes(CHUNK) for _ in range(16)]
    gevent.sleep(0)
    del blocks


def holder():
    kept.append([bytes(CHUNK) for _ in range(16)])
    done.wait()


prof = stackwatch.MemoryProfiler(sys.argv[1], greenlets=True,
                                 interval=0.01)
prof.enable()
for _ in range(40):
    gevent.joinall([gevent.spawn(request) for _ in range(100)])
    gc.collect()
    gevent.sleep(0.03)  # the writer sees them end, their slots free
holders = [gevent.spawn(holder) for _ in range(300)]
gevent.sleep(0.3)
stats = prof.stats()
prof.disable()
done.set()
gevent.joinall(holders)
print(json.dumps(stats), flush=True)
