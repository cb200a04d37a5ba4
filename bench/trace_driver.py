"""The program bench/trace.py times under each tracer: runs a workload's
unit() --repeat times and prints, as JSON, the loop's wall time (start-up
and output writing are left out: every tool pays those differently).

    python bench/trace_driver.py WORKLOAD REPEAT [--stackwatch [EXCLUDE]]
                                 [--scoped] [--memory] [--pymon]

--stackwatch traces the loop with stackwatch.Tracer (EXCLUDE: a path
prefix left out), then writes the trace and reports how long that took
and how many events it held; --pymon traces it with a Python-level
sys.monitoring tracer (Python callbacks appending to a list), the
baseline a C tracer is for. --scoped (with --stackwatch) traces only
inside elsewhere(), called once before the loop (scoped tracing: the
loop runs outside the scope). --memory (with --stackwatch): RSS and
per-thread live bytes counter tracks too (stackwatch trace --memory).
"""

import importlib
import json
import os
import sys
import tempfile
import time

# (From argv: yappi runs the script with its own module's globals.)
HERE = os.path.dirname(os.path.abspath(sys.argv[0]))
sys.path.insert(0, os.path.join(HERE, "workloads"))


def pymon_start():
    mon = sys.monitoring
    events = []
    append = events.append
    tool = mon.PROFILER_ID
    mon.use_tool_id(tool, "bench-pymon")

    def enter(code, offset):
        append((time.perf_counter_ns(), code, 0))

    def leave(code, offset, value):
        append((time.perf_counter_ns(), code, 1))

    E = mon.events
    for ev in (E.PY_START, E.PY_RESUME):
        mon.register_callback(tool, ev, enter)
    for ev in (E.PY_RETURN, E.PY_YIELD, E.PY_UNWIND):
        mon.register_callback(tool, ev, leave)
    mon.set_events(tool, E.PY_START | E.PY_RESUME | E.PY_RETURN
                   | E.PY_YIELD | E.PY_UNWIND)
    return events


def elsewhere():
    """The scoped configuration's traced function (not the workload)."""
    return sum(range(10))


def main(argv):
    name, repeat = argv[0], int(argv[1])
    mod = importlib.import_module(name)
    unit = mod.unit
    unit()  # warm up (imports, caches) outside the clock
    out = {"workload": name}
    tracer = None
    if "--stackwatch" in argv:
        import stackwatch

        i = argv.index("--stackwatch")
        exclude = argv[i + 1:i + 2] if len(argv) > i + 1 and \
            not argv[i + 1].startswith("--") else []
        scoped = [elsewhere] if "--scoped" in argv else []
        # --memory: RSS and per-thread live bytes (the memory profiler's
        # counters, started for the trace) every 10 ms.
        tracer = stackwatch.Tracer(exclude=exclude, buffer="1GiB",
                                   functions=scoped,
                                   memory=0.01 if "--memory" in argv
                                   else None)
        tracer.start()
        if scoped:
            elsewhere()
    elif "--pymon" in argv:
        pymon_start()
    t = time.perf_counter()
    for _ in range(repeat):
        unit()
    out["seconds"] = time.perf_counter() - t
    if tracer is not None:
        st = tracer.stop()
        fd, path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        t = time.perf_counter()
        tracer.write(path)
        out["write_seconds"] = time.perf_counter() - t
        out["events"] = st["events"]
        out["dropped"] = st["dropped"]
        out["bytes"] = os.path.getsize(path)
        os.unlink(path)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
