"""The sampler's CPU per pass, two builds side by side.

Usage::

    python bench/sampler_ab.py PYTHON_A PYTHON_B [--rounds N] [--seconds S]

PYTHON_A and PYTHON_B are interpreters of two virtual environments with
different builds of stackwatch (say, the last commit's and the work
tree's).  For each case below, every round runs bench/sampler_cpu.py once
with A and once with B, in an order that alternates from round to round,
so that the machine's drift falls on both.  A case reports, per build, the
median over the rounds of the sampler thread's CPU time per sampling pass
(sampler_cpu_seconds / passes), and the median of the per-round ratios
B/A.  Everything runs at 1000 Hz in wall mode; the main thread is busy in
pure Python and the other threads idle as sampler_cpu.py describes:

- ``1 thread``: the main thread only, 10 frames deep;
- ``1 thread, 200 frames``: a deep stack that changes only at its top;
- ``10 polling``, ``50 blocked``, ``50 polling``: many threads.

It prints a Markdown table and exits 0 whatever the numbers are.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
CASES = [("1 thread", ["1", "blocked", "10"]),
         ("1 thread, 200 frames", ["1", "blocked", "200"]),
         ("10 polling", ["10", "polling", "10"]),
         ("50 blocked", ["50", "blocked", "10"]),
         ("50 polling", ["50", "polling", "10"])]


def once(python, case, seconds):
    threads, idle, depth = case
    proc = subprocess.run(
        [python, os.path.join(BENCH, "sampler_cpu.py"), threads, "1000",
         str(seconds), idle, depth], capture_output=True, text=True,
        timeout=120)
    if proc.returncode != 0:
        sys.exit("sampler_ab.py: %s failed: %s" % (python,
                                                   proc.stderr.strip()))
    st = json.loads(proc.stdout)
    return 1e6 * st["sampler_cpu_seconds"] / max(1, st["passes"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("python_a")
    p.add_argument("python_b")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--seconds", type=float, default=2.0)
    a = p.parse_args(argv)
    for py in (a.python_a, a.python_b):
        if not os.access(py, os.X_OK):
            p.error("not an executable: %s" % py)
    print("| case | A: µs/pass | B: µs/pass | B/A (median of rounds) | rounds |")
    print("|---|---|---|---|---|")
    for label, case in CASES:
        ta, tb = [], []
        for r in range(a.rounds):
            order = [(a.python_a, ta), (a.python_b, tb)]
            if r % 2:
                order.reverse()
            for py, out in order:
                out.append(once(py, case, a.seconds))
        ratios = [b / x for x, b in zip(ta, tb)]
        print("| %s | %.1f | %.1f | %.3f | %d |" % (
            label, statistics.median(ta), statistics.median(tb),
            statistics.median(ratios), a.rounds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
