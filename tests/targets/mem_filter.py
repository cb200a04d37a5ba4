"""The memory profiler's filter: stackwatch.MemoryProfiler(DIR,
profile=PROFILE, filter=PREFIX), PREFIX the directory of kept_code.py
(mem_filter_kept/); other_code.py is elsewhere (mem_filter_other/).

argv: PROFILE DIR PREFIX (PROFILE "seed": ThreadGraph's spelling,
ProcessProfiler(...).setFilter(PREFIX)), or "cli" alone (run under `stackwatch mem
record --filter`, no profiler of its own).  Thread "worker": 30 MiB in kept code, 10 MiB
in other code called from here (not counted), 7 MiB in other code called
by kept code (counted: the stack passes through kept code), 5 MiB in
kept code called by other code (counted).  Thread "outside": 20 MiB in
other code only."""
import os
import sys
import threading

import stackwatch

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(here, "mem_filter_kept"),
                os.path.join(here, "mem_filter_other")]

import kept_code  # noqa: E402
import other_code  # noqa: E402

kept = []


def work():
    kept.append(kept_code.allocate(30))
    kept.append(other_code.allocate(10))
    kept.append(kept_code.call(other_code.allocate, 7))
    kept.append(other_code.call(kept_code.allocate, 5))


def outside():
    kept.append(other_code.allocate(20))


prof = None
if sys.argv[1] == "seed":
    from stackwatch.memory import ProcessProfiler

    prof = ProcessProfiler(default_log_path=sys.argv[2])
    prof.setFilter(sys.argv[3])
    prof.enable()
elif sys.argv[1] != "cli":
    prof = stackwatch.MemoryProfiler(sys.argv[2], filter=sys.argv[3],
                                     profile=sys.argv[1])
    prof.enable()
threads = [threading.Thread(target=work, name="worker"),
           threading.Thread(target=outside, name="outside")]
for t in threads:
    t.start()
for t in threads:
    t.join()
kept.append(other_code.allocate(3))  # the main thread: not counted
if prof is not None:
    prof.disable()
