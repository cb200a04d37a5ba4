"""The rate the sampler keeps, two builds side by side.

Usage::

    python bench/sampler_rate.py PYTHON_A [PYTHON_B] [--rounds N]
        [--seconds S] [--rates 100,1000] [--kinds idle,busy,threads]

PYTHON_A and PYTHON_B are interpreters of two virtual environments with
different builds of stackwatch (before and after a change; `make bench`
gives only one, its own).  For each kind of work and rate, every round
runs bench/sampler_rate_target.py once with A and once with B, the order
alternating from round to round (A B, B A, ...), so that the machine's
drift falls on both.  Per build and cell it reports medians over the
rounds of:

- passes per tick: sampling passes over rate x sampling time (1.000: a
  pass at every tick);
- samples per thread per tick: the least sampled thread's samples over
  rate x sampling time (every thread runs the whole time);
- ticks missed (the counter of builds that have one: "-" otherwise);
- the sampler thread's CPU, ms per second of sampling.

It prints a Markdown table (and the raw runs as JSON with --json FILE)
and exits 0 whatever the numbers are.  On a machine shared with other
work the figures are noisy: the quiet measure is what counts.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))


def once(python, kind, rate, seconds):
    proc = subprocess.run(
        [python, os.path.join(BENCH, "sampler_rate_target.py"), kind,
         str(rate), str(seconds)], capture_output=True, text=True,
        timeout=120)
    if proc.returncode != 0:
        sys.exit("sampler_rate.py: %s failed: %s" % (python,
                                                     proc.stderr.strip()))
    out = json.loads(proc.stdout)
    st = out["stats"]
    ticks = rate * st["sampling_seconds"]
    return {"passes": st["passes"] / ticks,
            "per_thread": min(out["counts"] or [0]) / ticks,
            "missed": st.get("missed"),
            "rereads": st.get("rereads"),
            "bad_frames": st["bad_frames"],
            "cpu_ms_s": 1e3 * st["sampler_cpu_seconds"]
            / st["sampling_seconds"]}


def med(runs, key, fmt):
    values = [r[key] for r in runs if r[key] is not None]
    return fmt % statistics.median(values) if values else "-"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("python_a")
    p.add_argument("python_b", nargs="?")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rates", default="100,1000")
    p.add_argument("--kinds", default="idle,busy,threads")
    p.add_argument("--json", help="write the raw runs here")
    a = p.parse_args(argv)
    builds = "AB" if a.python_b else "A"
    for py in (a.python_a, a.python_b)[:len(builds)]:
        if not os.access(py, os.X_OK):
            sys.exit("sampler_rate.py: %s is not an interpreter" % py)
    rates = [int(r) for r in a.rates.split(",")]
    kinds = a.kinds.split(",")
    load0, t0 = os.getloadavg()[0], time.time()
    runs = {}
    for kind in kinds:
        for rate in rates:
            for rnd in range(a.rounds):
                order = builds if rnd % 2 == 0 else builds[::-1]
                for which in order:
                    py = a.python_a if which == "A" else a.python_b
                    runs.setdefault((kind, rate, which), []).append(
                        once(py, kind, rate, a.seconds))
    print("%d rounds of %.1f s per cell%s; load average %.2f at start, "
          "%.2f at end; %.1f minutes" % (
              a.rounds, a.seconds,
              ", A/B alternating" if len(builds) == 2 else "", load0,
              os.getloadavg()[0],
              (time.time() - t0) / 60))
    print()
    print("| work | rate | build | passes per tick | samples per thread "
          "per tick (least) | ticks missed | sampler CPU ms/s |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for kind in kinds:
        for rate in rates:
            for which in builds:
                r = runs[(kind, rate, which)]
                print("| %s | %d | %s | %s | %s | %s | %s |" % (
                    kind, rate, which, med(r, "passes", "%.3f"),
                    med(r, "per_thread", "%.3f"), med(r, "missed", "%.0f"),
                    med(r, "cpu_ms_s", "%.1f")))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"%s %d %s" % k: v for k, v in runs.items()}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
