"""CPython's own sampler (3.15's profiling.sampling), switched on and off
from bench/paired.py, segment by segment.

profiling.sampling reads a process from outside: it cannot be started and
stopped inside the program, and starting ``python -m profiling.sampling
attach`` for every 20 ms segment would measure its start-up.  So
bench/paired.py starts this script once per configuration; it attaches
once, with the objects ``profiling.sampling attach -a -r RATE
--collapsed`` builds (a ``SampleProfiler`` over every thread, wall mode,
a ``CollapsedStackCollector``), and runs that profiler's own sampling
loop (``SampleProfiler.sample``) for each B segment, between a ``go``
and a ``stop`` read from stdin:

    go    ->  "started" once the loop is about to take its first sample
    stop  ->  the loop ends (it checks the collector's ``running`` flag
              each turn), then "done SAMPLES SECONDS"
    cpu   ->  "cpu SECONDS": this process's CPU time so far
    quit  ->  exit

Between segments the script blocks on stdin: no sampling, no CPU.

Usage: python bench/paired_ps.py PID RATE
"""

import os
import sys
import threading
import time

from profiling.sampling.constants import PROFILING_MODE_WALL
from profiling.sampling.sample import SampleProfiler
from profiling.sampling.stack_collector import CollapsedStackCollector


class Collector(CollapsedStackCollector):
    """The collector --collapsed uses, with the flag the sampling loop
    polls to stop (its live collector's)."""

    running = True


# The replies' stream: the real stdout; the sampling loop's own prints
# (its summary after every segment) go nowhere.
OUT = os.fdopen(os.dup(1), "w")
sys.stdout = open(os.devnull, "w")


def reply(line: str) -> None:
    OUT.write(line + "\n")
    OUT.flush()


def main() -> int:
    pid, rate = int(sys.argv[1]), int(sys.argv[2])
    interval = 1_000_000 // rate
    prof = SampleProfiler(pid, interval, all_threads=True,
                          mode=PROFILING_MODE_WALL)
    coll = Collector(interval, skip_idle=False)
    lines = iter(sys.stdin.readline, "")
    for cmd in lines:
        cmd = cmd.strip()
        if cmd == "quit":
            break
        if cmd == "cpu":
            reply("cpu %.6f" % time.process_time())
            continue
        if cmd != "go":
            reply("error: unknown command %r" % cmd)
            return 2
        coll.running = True

        def wait_stop() -> None:
            next(lines, None)  # "stop", or end of input
            coll.running = False

        waiter = threading.Thread(target=wait_stop)
        waiter.start()
        before = prof.total_samples
        reply("started")
        t0 = time.perf_counter()
        prof.sample(coll, None)
        t = time.perf_counter() - t0
        waiter.join()
        # total_samples leaves out each loop's first sample.
        reply("done %d %.6f" % (prof.total_samples - before + 1, t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
