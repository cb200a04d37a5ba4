"""Runs one workload script as ``__main__`` and records how long it ran.

Usage: ``python timed.py RESULT.json WORKLOAD.py [args ...]``

bench/run.py starts every measured process through this file, profiled or
not, so each profiler sees the same program: this wrapper, then the
workload.  The time written to RESULT.json covers the workload only, from
just before its code runs to just after it returns.  Interpreter start-up,
the import of an in-process profiler, a profiler attaching from outside,
and the writing of the profile at exit all fall outside it, so the ratio
profiled/unprofiled of these times is the slowdown of the program itself.

The result is a file, not output, because the workloads print nothing and
the profilers write to stdout/stderr themselves.  It holds ``seconds``
(wall, time.perf_counter) and ``cpu_seconds`` (this process's CPU over the
same span, time.process_time: every thread, an in-process sampler
included, an external one not).
"""

import json
import runpy
import sys
import time


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: timed.py RESULT.json WORKLOAD.py [args ...]")
    result, script = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[2:]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    runpy.run_path(script, run_name="__main__")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    with open(result, "w") as f:
        json.dump({"seconds": wall, "cpu_seconds": cpu}, f)


if __name__ == "__main__":
    main()
