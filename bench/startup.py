"""What stackwatch adds to a process's start-up, measured as whole processes.

Four figures, each against plain python on the venv this runs in:

- ``python -c "import stackwatch"`` against ``python -c pass``
  (target: at most 10 ms more);
- ``stackwatch record -o x.svg empty.py`` and ``stackwatch run empty.py``
  against ``python empty.py`` (target: at most 25 ms more);
- ``STACKWATCH_DUMP=1 python empty.py`` and ``STACKWATCH_MONITOR=1
  python empty.py`` against ``python empty.py`` (every process of a
  server started with these pays it: reported, no target).

Each figure is N pairs of runs (--runs), the baseline and the command in
turn (A B A B ...; which of the two goes first alternates from pair to
pair), after a warm-up of each; a run's time is the wall time from
starting the process to reaping it (its CPU time, user and system of all
its threads, is reported too: on a busy machine it moves less).  Reported: the median of each side
and the median of the pairwise differences (what the verdict uses), in
milliseconds.  On a shared 2-core VM single runs vary by several ms: quote
medians.

    python bench/startup.py [--runs 31] [--quick] [--compare PYTHON]
                            [--instructions]

``--instructions`` adds each figure as instructions executed (all
threads, counted by valgrind's callgrind, one run of each side): unlike
time, the same on a busy machine, so a change can be judged while the
machine is shared (on the quiet 3.11 machine of BENCHMARKS.md's third
pass, 1 M instructions of start-up took ~0.46 ms).

``--compare`` times a second venv's stackwatch (e.g. an older build's) in
the same rounds: its "added" figure is then a before to this one's after
under the same load.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import git_commit  # noqa: E402


def stackwatch_command(python: str = sys.executable) -> List[str]:
    """The venv's ``stackwatch`` script, as a user runs it."""
    script = os.path.join(os.path.dirname(python), "stackwatch")
    if os.path.exists(script):
        return [script]
    return [python, "-m", "stackwatch"]


def timed(cmd: List[str], env: Dict[str, str], cwd: str
          ) -> Tuple[float, float]:
    """(wall, CPU) seconds of one run: CPU is the process's user and
    system time, all threads (less sensitive to a busy machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime
                                                  - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit("bench/startup.py: %s exited %d: %s"
                         % (" ".join(cmd), proc.returncode,
                            proc.stderr.decode(errors="replace").strip()))
    return elapsed, cpu


def instructions(cmd: List[str], env: Dict[str, str], cwd: str) -> int:
    """Instructions one run of cmd executes, all threads (valgrind's
    callgrind)."""
    out = os.path.join(cwd, "callgrind.out")
    proc = subprocess.run(["valgrind", "--tool=callgrind",
                           "--callgrind-out-file=" + out] + cmd, env=env,
                          cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SystemExit("bench/startup.py: valgrind %s exited %d: %s"
                         % (" ".join(cmd), proc.returncode,
                            proc.stderr.decode(errors="replace").strip()))
    try:
        with open(out) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    finally:
        os.unlink(out)
    raise SystemExit("bench/startup.py: no total in callgrind's output")


def paired(base: List[str], cmds: List[Tuple[List[str], Dict[str, str]]],
           runs: int, cwd: str) -> List[Dict[str, float]]:
    """Each of cmds against base: `runs` rounds of base and every command
    in turn (the first of a round rotates), after a warm-up of each."""
    env_a = dict(os.environ)
    env_a.pop("STACKWATCH_DUMP", None)
    env_a.pop("STACKWATCH_MONITOR", None)
    todo = [(base, env_a)] + cmds
    times: List[List[Tuple[float, float]]] = [[] for _ in todo]
    for cmd, env in todo:
        timed(cmd, env, cwd)
    for i in range(runs):
        for k in range(len(todo)):
            j = (i + k) % len(todo)
            times[j].append(timed(todo[j][0], todo[j][1], cwd))
    out = []
    for b in times[1:]:
        diffs = [y[0] - x[0] for x, y in zip(times[0], b)]
        cpu = [y[1] - x[1] for x, y in zip(times[0], b)]
        out.append({"base": statistics.median(t[0] for t in times[0]) * 1e3,
                    "cmd": statistics.median(t[0] for t in b) * 1e3,
                    "diff": statistics.median(diffs) * 1e3,
                    "diff_min": min(diffs) * 1e3,
                    "diff_max": max(diffs) * 1e3,
                    "cpu": statistics.median(cpu) * 1e3})
    return out


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=31,
                   help="pairs of runs per figure (default 31)")
    p.add_argument("--quick", action="store_true",
                   help="11 pairs per figure")
    p.add_argument("--compare", metavar="PYTHON",
                   help="also time another venv's stackwatch (its python, "
                        "e.g. of an older build), interleaved with this "
                        "one's: each figure is then before and after")
    p.add_argument("--instructions", action="store_true",
                   help="also count the instructions each figure adds "
                        "(valgrind's callgrind; the same under load)")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    runs = 11 if args.quick else args.runs
    py = sys.executable
    work = tempfile.mkdtemp(prefix="stackwatch-bench-startup-")
    try:
        with open(os.path.join(work, "empty.py"), "w"):
            pass
        env = dict(os.environ)
        env.pop("STACKWATCH_DUMP", None)
        env.pop("STACKWATCH_MONITOR", None)
        env["TMPDIR"] = work  # the slow-script log of `stackwatch run`
        env["STACKWATCH_RUNTIME_DIR"] = os.path.join(work, "rt")
        os.mkdir(env["STACKWATCH_RUNTIME_DIR"], 0o700)
        pythons = [py] + ([args.compare] if args.compare else [])

        def cases_of(py: str) -> List[Tuple[List[str], Dict[str, str]]]:
            sw = stackwatch_command(py)
            return [
                ([py, "-c", "import stackwatch"], env),
                (sw + ["record", "-o", "x.svg", "empty.py"], env),
                (sw + ["run", "empty.py"], env),
                ([py, "empty.py"], dict(env, STACKWATCH_DUMP="1")),
                ([py, "empty.py"], dict(env, STACKWATCH_MONITOR="1")),
            ]

        commands = [cases_of(p) for p in pythons]
        cases = [
            ("import stackwatch", [py, "-c", "pass"], 10.0),
            ("stackwatch record -o x.svg empty.py", [py, "empty.py"], 25.0),
            ("stackwatch run empty.py", [py, "empty.py"], 25.0),
            ("STACKWATCH_DUMP=1 python empty.py", [py, "empty.py"], None),
            ("STACKWATCH_MONITOR=1 python empty.py", [py, "empty.py"],
             None),
        ]
        print("# start-up: Python %s, stackwatch %s, %d pairs per figure, "
              "%d CPUs" % (sys.version.split()[0], git_commit(
                  os.path.dirname(HERE)), runs, os.cpu_count() or 0))
        if args.compare:
            print("# before: %s, interleaved with the figures' own runs"
                  % args.compare)
        print()
        print("| command | baseline | median (ms) | baseline median (ms) "
              "| added, median of pairs (ms) | min..max | target "
              "| added CPU (ms) |"
              + (" before: added (ms) | before: added CPU (ms) |"
                 if args.compare else ""))
        print("|---|---|---:|---:|---:|---|---|---:|"
              + ("---:|---:|" if args.compare else ""))
        for i, (name, base, target) in enumerate(cases):
            rs = paired(base, [c[i] for c in commands], runs, work)
            r = rs[0]
            if target is None:
                verdict = "(reported)"
            elif r["diff"] <= target:
                verdict = "<= %g ms: met" % target
            else:
                verdict = "<= %g ms: NOT met" % target
            print("| `%s` | `python %s` | %.1f | %.1f | %+.1f | %+.1f..%+.1f "
                  "| %s | %+.1f |" % (name, " ".join(base[1:]), r["cmd"],
                                      r["base"], r["diff"], r["diff_min"],
                                      r["diff_max"], verdict, r["cpu"])
                  + (" %+.1f | %+.1f |" % (rs[1]["diff"], rs[1]["cpu"])
                     if args.compare else ""))
            sys.stdout.flush()
        if args.instructions:
            print_instructions(cases, commands, work)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_instructions(cases: List[Tuple[str, List[str], Optional[float]]],
                       commands: List[List[Tuple[List[str],
                                                 Dict[str, str]]]],
                       cwd: str) -> None:
    """The second table: instructions added over the baseline, millions
    (and the --compare venv's)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/startup.py: --instructions needs valgrind")
    env = dict(os.environ)
    env.pop("STACKWATCH_DUMP", None)
    env.pop("STACKWATCH_MONITOR", None)
    print()
    print("| command | baseline | added instructions (M) |"
          + (" before: added (M) |" if len(commands) > 1 else ""))
    print("|---|---|---:|" + ("---:|" if len(commands) > 1 else ""))
    for i, (name, base, _) in enumerate(cases):
        base_n = instructions(base, env, cwd)
        added = [instructions(c[i][0], c[i][1], cwd) - base_n
                 for c in commands]
        print("| `%s` | `python %s` | %+.1f |" % (name, " ".join(base[1:]),
                                                  added[0] / 1e6)
              + "".join(" %+.1f |" % (n / 1e6) for n in added[1:]))
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
