"""The sampler's own CPU cost with many threads: one measurement.

Usage: ``python sampler_cpu.py THREADS RATE SECONDS IDLE [DEPTH]``

Runs THREADS Python threads in this process: the main thread busy in pure
Python and THREADS-1 idle ones, every stack about DEPTH frames deep (10
unless given).  IDLE
says how the idle threads wait:

- ``blocked``: on a threading.Event for the whole run.  They use no CPU
  and their stacks never change, the cheapest case for the sampler.
- ``polling``: in a loop of time.sleep(POLL) (100 wake-ups a second each),
  as threads of a server that poll a queue or a socket do.  They use a
  little CPU between samples, so the sampler reads their stacks again
  instead of reusing the last one.

Once every thread is in place, a stackwatch Profiler (wall mode) samples
at RATE for SECONDS while the main thread works.  Prints one JSON object:
the profiler's stats() and ``cpu_per_second``, the CPU seconds the
sampler thread used per wall second of sampling
(sampler_cpu_seconds / duration_seconds).
"""

import json
import sys
import threading
import time

import stackwatch

DEPTH = 10
POLL = 0.01


def at_depth(depth, fn, *args):
    """Calls fn(*args) under `depth` more Python frames."""
    if depth <= 0:
        return fn(*args)
    return at_depth(depth - 1, fn, *args)


def blocked(ready, done):
    ready.wait()
    done.wait()


def polling(ready, done):
    ready.wait()
    while not done.is_set():
        time.sleep(POLL)


def busy(seconds):
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        for i in range(1000):
            total += i % 7
    return total


def main():
    global DEPTH
    if len(sys.argv) not in (5, 6) or sys.argv[4] not in ("blocked",
                                                          "polling"):
        sys.exit("usage: sampler_cpu.py THREADS RATE SECONDS "
                 "blocked|polling [DEPTH]")
    nthreads, rate = int(sys.argv[1]), float(sys.argv[2])
    seconds, idle = float(sys.argv[3]), sys.argv[4]
    if len(sys.argv) == 6:
        DEPTH = int(sys.argv[5])
    ready = threading.Barrier(nthreads)
    done = threading.Event()
    wait = blocked if idle == "blocked" else polling
    threads = [threading.Thread(target=at_depth,
                                args=(DEPTH, wait, ready, done))
               for _ in range(nthreads - 1)]
    for t in threads:
        t.start()
    ready.wait()
    prof = stackwatch.Profiler(rate=rate, mode="wall")
    prof.start()
    at_depth(DEPTH, busy, seconds)
    prof.stop()
    done.set()
    for t in threads:
        t.join()
    st = prof.stats()
    st["cpu_per_second"] = st["sampler_cpu_seconds"] / st["duration_seconds"]
    st.update(threads_started=nthreads, idle=idle, seconds=seconds)
    json.dump(st, sys.stdout)


if __name__ == "__main__":
    main()
