"""The memory profiler's cost, two builds of stackwatch side by side.

bench/memprof.py compares stackwatch with tracemalloc and memray; this
one compares a change with what it changes: each workload of
bench/workloads/mem/ runs plain, then under ``stackwatch mem record``
from build A (``--base DIR``: a directory put first on PYTHONPATH, with
its own ``stackwatch`` package and extension, e.g. ``git archive`` of the
base commit built with ``setup.py build_ext --inplace``, then DIR/src)
and from build B (the stackwatch this Python imports), each in the
profile settings given (``--settings``: counters, stacks, both-stacks,
greenlets), in a new shuffled order every round, so that the machine's
slow drift (other work on it) falls on every configuration alike.

Each run times itself from its first line to its last (start-up left
out), in wall time and in the CPU time of all its threads (the writer's
included; less exposed than wall time to other work on the machine,
which makes a run wait for a CPU).  Reported per workload and
configuration: the median times, and the medians over the rounds of the
ratios to that round's plain run (pairs taken within one round are
seconds apart, and so less exposed to the load changing than medians of
separate runs are).

    python bench/memprof_ab.py --base /tmp/base/src [--rounds 7]
        [--workloads mem_threads,...] [--settings counters,stacks]
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import git_commit  # noqa: E402

WORKLOADS = ("mem_alloc", "mem_threads", "mem_sqlite", "mem_greenlets")
SETTINGS = {
    "counters": ["--profile", "python"],
    "stacks": ["--profile", "python", "--stacks"],
    "both-stacks": ["--profile", "both", "--stacks"],
    "greenlets": ["--profile", "python", "--greenlets"],
}


def run(argv, env, tmp):
    out = os.path.join(tmp, "out")
    subprocess.run(["rm", "-rf", out], check=True)
    os.makedirs(out)
    argv = [a.replace("{out}", out) for a in argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                          env=env)
    m = re.search(r"elapsed (\d+\.\d+)", proc.stdout)
    c = re.search(r"cpu (\d+\.\d+)", proc.stdout)
    if proc.returncode != 0 or m is None or c is None:
        raise SystemExit("%s failed (%d):\n%s%s" % (
            " ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    return float(m.group(1)), float(c.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True,
                    help="PYTHONPATH directory of build A")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--settings", default="counters,stacks")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    env_b = dict(os.environ)
    env_b.pop("PYTHONPATH", None)
    env_a = dict(env_b, PYTHONPATH=os.path.abspath(args.base))
    check = subprocess.run(
        [sys.executable, "-c", "import stackwatch, sys; "
         "sys.stdout.write(stackwatch.__file__)"],
        env=env_a, capture_output=True, text=True)
    if not check.stdout.startswith(os.path.abspath(args.base)):
        raise SystemExit("--base %s does not provide stackwatch (got %r)"
                         % (args.base, check.stdout or check.stderr))
    sw = [sys.executable, "-m", "stackwatch", "mem", "record", "-o", "{out}"]
    confs = [("plain", [sys.executable], env_b)]
    for name in args.settings.split(","):
        confs.append(("A " + name, sw + SETTINGS[name], env_a))
        confs.append(("B " + name, sw + SETTINGS[name], env_b))
    print("stackwatch A=%s B=%s (%s), CPython %s, %d rounds, shuffled "
          "order each round (seed %d); load average at start %s"
          % (args.base, "installed", git_commit(os.path.dirname(HERE)),
             sys.version.split()[0], args.rounds, args.seed,
             "%.2f %.2f %.2f" % os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        for wl in args.workloads.split(","):
            script = os.path.join(HERE, "workloads", "mem", wl + ".py")
            times = {label: [] for label, _, _ in confs}
            ratios = {label: [] for label, _, _ in confs}
            cpus = {label: [] for label, _, _ in confs}
            cratios = {label: [] for label, _, _ in confs}
            for _ in range(args.rounds):
                order = list(confs)
                rng.shuffle(order)
                got = {}
                for label, argv, env in order:
                    got[label] = run(argv + [script], env, tmp)
                for label in got:
                    (wall, cpu), (pwall, pcpu) = got[label], got["plain"]
                    times[label].append(wall)
                    ratios[label].append(wall / pwall)
                    cpus[label].append(cpu)
                    cratios[label].append(cpu / pcpu)
            print("\n%s (plain: %.3f s wall, %.3f s CPU, medians)" % (
                wl, statistics.median(times["plain"]),
                statistics.median(cpus["plain"])))
            print("  %-16s %8s %7s %11s   %8s %7s %11s" % (
                "", "wall s", "ratio", "range", "CPU s", "ratio", "range"))
            for label, _, _ in confs:
                print("  %-16s %8.3f %7.2f %5.2f-%.2f   %8.3f %7.2f "
                      "%5.2f-%.2f" % (
                          label, statistics.median(times[label]),
                          statistics.median(ratios[label]),
                          min(ratios[label]), max(ratios[label]),
                          statistics.median(cpus[label]),
                          statistics.median(cratios[label]),
                          min(cratios[label]), max(cratios[label])))


if __name__ == "__main__":
    main()
