"""The floor of a C tracer's cost per event (issue 15), in instructions.

    python bench/trace_floor.py [--fib N] [--reps A B] [--modes ...]
                                [--wall ROUNDS] [--keep DIR]
                                [--workload calls]

Runs fib(N) (default 20: 21,891 calls, two events each) in a fresh
interpreter under ``valgrind --tool=callgrind`` twice, A and B times
(default 1 and 4), and takes the difference of the instruction counts,
so start-up, imports and the tracer's start and stop cancel out: what is
left is (B - A) * calls of the traced work.  For each mode:

- ``none``: untraced;
- ``noop``: sys.monitoring with no-op C callbacks (METH_FASTCALL C
  functions returning None, from ``bench/trace_floor/noop.c``, built
  here into a temporary directory; not part of stackwatch) registered
  for PY_START and PY_RETURN: the floor of a C tracer whose callbacks
  are builtin functions;
- ``noop-vc``: the same with a callable object whose type's vectorcall
  is the no-op itself (what stackwatch registers since 2026-12-07): the
  floor of any sys.monitoring C tracer;
- ``stackwatch``: ``stackwatch.Tracer()`` recording every call;
- ``excluded``: ``stackwatch.Tracer(exclude=[this file])``: the workload
  switched off at its first event (DISABLE);
- ``cprofile``: ``cProfile.Profile().enable()``;
- ``stackwatch-b``: as ``stackwatch``, with another build of stackwatch
  first on the path (``--b DIR``: a directory holding a ``stackwatch``
  package, e.g. a copy of the installed one with an older ``_native``):
  an A/B of two builds in one run.  ``--b`` may be given more than once:
  one row per directory (named ``b:`` and the directory's name), all in
  the same interleaved wall-clock rounds.

Prints instructions per call of fib (untraced), per traced call (the
PY_START + PY_RETURN pair) above untraced, and the ratio to untraced.
Instruction counts are repeatable on a loaded machine; they leave out
what costs cycles without instructions (a clock read's fences, cache
misses): --wall ROUNDS adds a wall-clock figure per mode (median ns per
call of ROUNDS interleaved runs, each in a fresh interpreter, B reps, and
the median of each round's ratio to that round's untraced run), noisy on
a shared machine.  ``--workload calls``: the same with
``bench/workloads/calls.py``'s ``unit()`` (fib(20) and tiny method calls:
the call-heavy workload of ``bench/trace.py``) run A and B times instead
of fib(N); "per call" is then per Python call of it (counted once with
sys.monitoring here).  CPython 3.12+ (sys.monitoring).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NOOP_C = os.path.join(HERE, "trace_floor", "noop.c")
MODES = ("none", "noop", "noop-vc", "stackwatch", "excluded", "cprofile",
         "stackwatch-b")

CHILD = r'''
import sys, time
mode, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def fib(k):
    return k if k < 2 else fib(k - 1) + fib(k - 2)
if n < 0:  # --workload calls: its unit(), from sys.argv[5]
    sys.path.insert(0, sys.argv[5])
    from calls import unit
    def work(_):
        unit()
else:
    work = fib
work(12)  # warm up (specialisation) before any tool
stop = None
if mode in ("noop", "noop-vc"):
    sys.path.insert(0, sys.argv[4])
    import _trace_floor_noop
    cb = _trace_floor_noop.noop if mode == "noop" else \
        _trace_floor_noop.NoopVC()
    mon = sys.monitoring
    E = mon.events
    mon.use_tool_id(mon.PROFILER_ID, "floor")
    mon.register_callback(mon.PROFILER_ID, E.PY_START, cb)
    mon.register_callback(mon.PROFILER_ID, E.PY_RETURN, cb)
    mon.set_events(mon.PROFILER_ID, E.PY_START | E.PY_RETURN)
elif mode in ("stackwatch", "excluded", "stackwatch-b"):
    import stackwatch
    t = stackwatch.Tracer(buffer="1GiB",
                          exclude=[] if mode != "excluded" else
                          [__file__] if n >= 0 else [sys.argv[5]])
    t.start()
    stop = t.stop
elif mode == "cprofile":
    import cProfile
    p = cProfile.Profile()
    p.enable()
    stop = p.disable
t0 = time.perf_counter_ns()
for _ in range(reps):
    work(n)
t1 = time.perf_counter_ns()
if stop is not None:
    stop()
print(t1 - t0)
'''


def calls_of_fib(n):
    a, b = 1, 1  # calls(0) = calls(1) = 1
    for _ in range(n - 1):
        a, b = b, a + b + 1
    return b if n >= 1 else 1


def build_noop(outdir):
    inc = sysconfig.get_paths()["include"]
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    out = os.path.join(outdir, "_trace_floor_noop" + suffix)
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=c11", "-O2", "-fPIC", "-shared", "-I", inc,
                    NOOP_C, "-o", out], check=True)
    return outdir


WORKLOADS = os.path.join(HERE, "workloads")


def child_cmd(script, mode, n, reps, extdir):
    return [sys.executable, script, mode, str(n), str(reps), extdir,
            WORKLOADS]


def calls_of_unit():
    """Python calls (PY_START events) in one calls.unit()."""
    sys.path.insert(0, WORKLOADS)
    from calls import unit
    mon = sys.monitoring
    tool = mon.DEBUGGER_ID
    count = [0]

    def start(code, offset):
        count[0] += 1

    unit()
    mon.use_tool_id(tool, "trace_floor count")
    mon.register_callback(tool, mon.events.PY_START, start)
    mon.set_events(tool, mon.events.PY_START)
    unit()
    mon.set_events(tool, 0)
    mon.free_tool_id(tool)
    return count[0]


def child_env(mode, b_dir):
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("PYTHONPATH", None)
    if mode == "stackwatch-b":
        env["PYTHONPATH"] = b_dir
    return env


def instructions(script, mode, n, reps, extdir, keep, b_dir):
    tag = mode if b_dir is None else \
        "b-" + os.path.basename(os.path.normpath(b_dir))
    out = os.path.join(keep or tempfile.gettempdir(),
                       "callgrind.%s.%d.%d" % (tag, reps, os.getpid()))
    env = child_env(mode, b_dir)
    r = subprocess.run(["valgrind", "--tool=callgrind",
                        "--callgrind-out-file=" + out]
                       + child_cmd(script, mode, n, reps, extdir),
                       capture_output=True, text=True, env=env)
    if not keep:
        try:
            os.unlink(out)
        except OSError:
            pass
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode != 0 or m is None:
        sys.exit("callgrind run of %s failed:\n%s" % (mode, r.stderr[-2000:]))
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fib", type=int, default=20)
    ap.add_argument("--reps", type=int, nargs=2, default=(1, 4))
    ap.add_argument("--modes", nargs="+", default=list(MODES[:-1]),
                    choices=MODES)
    ap.add_argument("--b", metavar="DIR", action="append", default=[],
                    help="stackwatch-b's path (repeatable): a directory "
                    "with a stackwatch package")
    ap.add_argument("--wall", type=int, default=0, metavar="ROUNDS")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the callgrind.out files there "
                    "(for callgrind_annotate)")
    ap.add_argument("--workload", choices=("fib", "calls"), default="fib")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if "stackwatch-b" in a.modes and not a.b:
        sys.exit("trace_floor: stackwatch-b needs --b DIR")
    if sys.version_info < (3, 12):
        sys.exit("trace_floor: needs CPython 3.12+ (sys.monitoring)")
    # The rows: (name, mode, b_dir); stackwatch-b gives one per --b.
    rows = []
    for mode in a.modes:
        if mode != "stackwatch-b":
            rows.append((mode, mode, None))
        elif len(a.b) == 1:
            rows.append((mode, mode, a.b[0]))
        else:
            rows += [("b:" + os.path.basename(os.path.normpath(d)), mode, d)
                     for d in a.b]
    calls = calls_of_fib(a.fib)
    if a.workload == "calls":
        a.fib = -1  # (the child runs calls.unit())
        calls = calls_of_unit()
    ra, rb = a.reps
    with tempfile.TemporaryDirectory() as tmp:
        extdir = build_noop(tmp)
        script = os.path.join(tmp, "floor_child.py")
        with open(script, "w") as f:
            f.write(CHILD)
        res = {}
        for name, mode, bd in rows:
            ia = instructions(script, mode, a.fib, ra, extdir, a.keep, bd)
            ib = instructions(script, mode, a.fib, rb, extdir, a.keep, bd)
            res[name] = {"per_call": (ib - ia) / ((rb - ra) * calls)}
        walls = {name: [] for name, _, _ in rows}
        for _ in range(a.wall):
            for name, mode, bd in rows:
                out = subprocess.run(child_cmd(script, mode, a.fib, rb,
                                               extdir),
                                     capture_output=True, text=True,
                                     env=child_env(mode, bd),
                                     check=True).stdout
                walls[name].append(int(out.split()[-1]) / (rb * calls))
    base = res.get("none", {}).get("per_call")
    print("CPython %s, %s = %d calls, reps %d and %d; callgrind Ir"
          % (sys.version.split()[0], "fib(%d)" % a.fib if a.fib >= 0 else
             "calls.unit()", calls, ra, rb))
    print("%-12s %9s %14s %7s %s" % ("mode", "Ir/call", "Ir/event above",
                                     "ratio", "wall ns/call (min-max), "
                                     "wall ratio (min-max)"
                                     if a.wall else ""))
    for mode, _, _ in rows:
        r = res[mode]
        above = (r["per_call"] - base) / 2 if base else float("nan")
        ratio = r["per_call"] / base if base else float("nan")
        r.update(above_per_event=above, ratio=ratio)
        wall = ""
        if a.wall:
            r["wall_ns"] = statistics.median(walls[mode])
            wall = "%.1f (%.1f-%.1f)" % (r["wall_ns"], min(walls[mode]),
                                         max(walls[mode]))
            if "none" in walls:
                q = [w / n for w, n in zip(walls[mode], walls["none"])]
                r["wall_ratio"] = statistics.median(q)
                wall += ", %.2fx (%.2f-%.2f)" % (r["wall_ratio"], min(q),
                                                 max(q))
        print("%-12s %9.1f %14.1f %6.2fx %s" % (mode, r["per_call"], above,
                                                ratio, wall))
    if a.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
