"""The tracer's cost (issue 15): wall time of a workload's loop under each
tracer, over the same loop untraced, each run in a fresh interpreter.

    python bench/trace.py [--rounds N] [--repeat-scale X] [--tools ...]

Configurations (each round runs them all in a new shuffled order):

- ``none``: the loop alone;
- ``stackwatch``: every call recorded (``stackwatch.Tracer``);
- ``stackwatch, hot module excluded``: the workload's module left out
  (``exclude=[its path]``): its code is switched off at its first event
  (sys.monitoring DISABLE on 3.12+; before, the profile function still
  runs and returns at once);
- ``stackwatch, scoped elsewhere``: scoped tracing (``functions=[f]``)
  of a function called once before the loop: the loop runs outside the
  scope (3.12+: no global events then; before, the profile function's
  check per call);
- ``stackwatch --memory``: every call recorded, with the RSS and
  per-thread live bytes counter tracks (the memory profiler's counters,
  started for the trace: its allocator hooks' cost included);
- ``viztracer``: ``viztracer -o out.json`` (its default: a ring of the
  last 1M entries);
- ``cProfile``: ``python -m cProfile -o out.prof``;
- ``yappi``: ``python -m yappi -c wall -o out.prof``;
- ``pymon``: a Python-level sys.monitoring tracer (3.12+): Python
  callbacks appending (time, code, event) to a list.

The times are the loop's own (bench/trace_driver.py measures it inside
the traced program), so start-up and writing the output are not counted;
stackwatch's write is timed separately and reported as events per
second written.  A cell is the median ratio over the rounds to the median
untraced loop, with the spread (min-max), then "paired": the median of
each round's ratio to that round's own untraced loop (steadier where the
host's speed changes between rounds).  Provisional on a shared machine:
the quiet measurement is done after the merge.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "trace_driver.py")
WORKLOADS = {
    # name: (module, unit repeats, what it is)
    "calls": ("calls", 40, "call-heavy: fib and tiny methods"),
    "objects": ("objects", 20, "object-heavy: instances, dicts, attributes"),
    "alloc": ("alloc", 20, "mixed: strings, bytes, lists, sorting"),
}


def _has(module):
    return subprocess.run([sys.executable, "-c", "import " + module],
                          capture_output=True).returncode == 0


def configs(tools):
    out = [("none", [])]
    if "stackwatch" in tools:
        out.append(("stackwatch", ["--stackwatch"]))
        out.append(("stackwatch, hot module excluded", ["--stackwatch",
                                                        "HOT"]))
        out.append(("stackwatch, scoped elsewhere", ["--stackwatch",
                                                     "--scoped"]))
        out.append(("stackwatch --memory", ["--stackwatch", "--memory"]))
    if "viztracer" in tools and _has("viztracer"):
        out.append(("viztracer", ["@viztracer"]))
    if "cProfile" in tools:
        out.append(("cProfile", ["@cProfile"]))
    if "yappi" in tools and _has("yappi"):
        out.append(("yappi", ["@yappi"]))
    if "pymon" in tools and sys.version_info >= (3, 12):
        out.append(("pymon (Python sys.monitoring)", ["--pymon"]))
    return out


def run_one(workload, how, tmp):
    module, repeat, _ = WORKLOADS[workload]
    repeat = max(1, int(repeat * ARGS.repeat_scale))
    args = [module, str(repeat)]
    pre = [sys.executable]
    out = os.path.join(tmp, "out")
    if how and how[0] == "@viztracer":
        pre = [sys.executable, "-m", "viztracer", "--quiet", "-o",
               out + ".json"]
    elif how and how[0] == "@cProfile":
        pre = [sys.executable, "-m", "cProfile", "-o", out + ".prof"]
    elif how and how[0] == "@yappi":
        pre = [sys.executable, "-m", "yappi", "-c", "wall", "-o",
               out + ".yprof"]
    else:
        args += [os.path.join(HERE, "workloads", module + ".py")
                 if a == "HOT" else a for a in how]
    proc = subprocess.run(pre + [DRIVER] + args, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("%s %s failed:\n%s" % (workload, how,
                                                  proc.stderr[-2000:]))
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat-scale", type=float, default=1.0)
    p.add_argument("--tools", default="stackwatch,viztracer,cProfile,yappi,"
                   "pymon")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--seed", type=int, default=1)
    ARGS = p.parse_args()
    rng = random.Random(ARGS.seed)
    tools = ARGS.tools.split(",")
    tmp = tempfile.mkdtemp(prefix="stackwatch-bench-trace-")
    print("CPython %s; %d rounds; times of the loop inside the program"
          % (sys.version.split()[0], ARGS.rounds))
    try:
        for workload in ARGS.workloads.split(","):
            cfgs = configs(tools)
            times = {name: [] for name, _ in cfgs}
            writes = []
            for _ in range(ARGS.rounds):
                order = list(cfgs)
                rng.shuffle(order)
                for name, how in order:
                    r = run_one(workload, how, tmp)
                    times[name].append(r["seconds"])
                    if name == "stackwatch":
                        writes.append(r)
            base = statistics.median(times["none"])
            print("\n%s (%s): untraced loop %.3f s"
                  % (workload, WORKLOADS[workload][2], base))
            for name, _ in cfgs:
                ratios = [t / base for t in times[name]]
                paired = [t / n for t, n in zip(times[name], times["none"])]
                print("  %-34s %5.2fx  (%.2f-%.2f)  paired %.2fx"
                      % (name, statistics.median(ratios), min(ratios),
                         max(ratios), statistics.median(paired)))
            if writes:
                ev = statistics.median(w["events"] for w in writes)
                ws = statistics.median(w["write_seconds"] for w in writes)
                mb = statistics.median(w["bytes"] for w in writes) / 1e6
                print("  stackwatch wrote %d events (%.0f MB) in %.2f s: "
                      "%.1f M events/s; %d dropped"
                      % (ev, mb, ws, ev / ws / 1e6,
                         max(w["dropped"] for w in writes)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
