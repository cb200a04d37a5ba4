"""Overhead measured finely: the sampler switched on and off inside one
process, in short alternating segments.

Why
---
bench/run.py times each workload in a fresh interpreter, about a second a
run.  On this 2-core VM a run's time varies by 4-10% from one process to
the next (memory layout, hash seed, the host), and the medians of 11
rounds moved 0.958-1.041 for the no-profiler control: such a method
cannot tell 1.005 from 1.02, so it cannot check targets of 1.01 and 1.03.
Here the program stays in one process and the same code runs with the
profiler on and off within a fraction of a second of each other, so
layout and slow drift of the machine cancel, and hundreds of pairs fit in
a few minutes.

How
---
Each workload in bench/workloads/ has a ``unit()``, a slice of its
``main()`` (3-15 ms).  A segment is as many units as make about
--segment seconds (at least one).  For every workload, after a warm-up,
each round runs the configurations in a new shuffled order (--seed), each
as a B segment between two A segments of its own (profiler off), A B A,
so that what one configuration leaves behind (pyinstrument's hooks, say)
does not land in another's A:

- ``control``: B is just another A: its ratio is the method's noise;
- ``stackwatch R Hz``: ``stackwatch.Profiler(rate=R)`` (wall mode, every
  thread) is started before the segment's clock starts and stopped after
  it stops, so the sampler's thread start and stop are not counted but
  everything it does meanwhile is;
- ``pyinstrument R Hz`` (with ``--tools stackwatch,pyinstrument``):
  pyinstrument's in-process ``Profiler(interval=1/R)``, started and
  stopped the same way;
- ``profiling.sampling R Hz`` (CPython 3.15's own sampler, with ``--tools
  ...,profiling.sampling``): attached once from another process
  (bench/paired_ps.py, the objects ``profiling.sampling attach -a -r R``
  builds), its own sampling loop run from just before the segment's clock
  starts to just after it stops.  The tables then also give, per
  workload, stackwatch's ratio over profiling.sampling's in the same
  round.  py-spy and austin attach from another process too, but have no
  such loop to drive; they are compared in bench/run.py.

Segments are short (--segment, default 20 ms, at least one unit of a few
ms): this VM's CPUs change speed by as much as 1.5x for stretches of 0.2
to 2 s (the host's doing: a workload's own CPU time changes with it, and
no time is stolen), so an A B A triple must fit inside one stretch.  The
few triples that straddle a change are outliers the median ignores.

Every segment, A or B, waits a random 0-10 ms (--seed) after being
switched on and before its clock starts.  Without it a sampler's first
tick would fall one interval after its start, and so at the same place
in every segment: a 20 ms segment at 100 Hz would hold one pass instead
of two on average.  With it the ticks fall anywhere in the clocked
window, and a cell reports how many passes per second really landed
there ("in-clock rate").

Each B's ratio is its wall time (time.perf_counter) over the mean of the
two A segments around it.  A cell reports the median ratio over the
rounds, a 95% confidence interval for that median (percentile bootstrap,
2000 resamples), the interquartile range and the number of pairs.  A
target is "met" when the whole interval is at or under it, "missed" when
the whole interval is above it, "unresolved" otherwise.

The sampler's effective rate and its own CPU per second (from the
profiler's stats over all its segments) are reported with it.  gc runs
before every segment, outside the clock.  --cpu N pins the process (and so
the sampler's thread) to one CPU: the sampler then takes its time from the
program's core instead of the spare one.

Usage::

    python bench/paired.py [--quick] [--rounds N] [--cpu N] [--json F]
"""

import argparse
import datetime
import gc
import json
import os
import platform
import random
import runpy
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOADS = os.path.join(BENCH, "workloads")
sys.path.insert(0, BENCH)

from common import git_commit  # noqa: E402

TARGETS = {100: 1.01, 1000: 1.03}
BOOTSTRAP = 2000


class Config:
    """One B configuration: what is switched on around a segment."""

    def __init__(self, tool: str, rate: int) -> None:
        self.tool, self.rate = tool, rate
        self.label = "control" if tool == "control" else \
            "%s %d Hz" % (tool, rate)
        self.prof = None
        self.clocked_passes = 0
        self.clocked_seconds = 0.0
        if tool == "stackwatch":
            import stackwatch
            self.prof = stackwatch.Profiler(rate=rate)
        elif tool == "pyinstrument":
            import pyinstrument
            self.prof = pyinstrument.Profiler(interval=1.0 / rate)
        elif tool == PS:
            self.prof = OutsideSampler(rate)

    def on(self) -> None:
        if self.prof is not None:
            self.prof.start()

    def off(self) -> None:
        if self.prof is not None:
            self.prof.stop()

    def passes(self) -> int:
        return self.prof.stats()["passes"] if self.tool == "stackwatch" \
            else 0

    def close(self) -> None:
        if self.tool == PS:
            self.prof.close()

    def sampler(self) -> Optional[dict]:
        if self.tool == PS:
            return self.prof.summary()
        if self.tool != "stackwatch":
            return None
        st = self.prof.stats()
        dur = st["sampling_seconds"] or float("nan")
        return {"effective_rate": st["passes"] / dur,
                "clocked_rate": self.clocked_passes
                / (self.clocked_seconds or float("nan")),
                "cpu_ms_per_s": 1000.0 * st["sampler_cpu_seconds"] / dur,
                "us_per_pass": 1e6 * st["sampler_cpu_seconds"]
                / max(1, st["passes"]),
                "read_errors": st["read_errors"]}


def load_unit(name: str) -> Callable[[], None]:
    ns = runpy.run_path(os.path.join(WORKLOADS, name + ".py"),
                        run_name="paired_" + name)
    if "unit" not in ns:
        raise SystemExit("paired.py: workload %s has no unit()" % name)
    return ns["unit"]


PS = "profiling.sampling"


class OutsideSampler:
    """CPython 3.15's profiling.sampling attached to this process from
    another one (bench/paired_ps.py), its sampling loop run between
    start() and stop()."""

    def __init__(self, rate: int) -> None:
        import subprocess
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(BENCH, "paired_ps.py"),
             str(os.getpid()), str(rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            bufsize=1)
        self.samples = 0
        self.seconds = 0.0

    def _ask(self, cmd: str, want: str) -> str:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if not line.startswith(want):
            raise SystemExit("paired.py: profiling.sampling's driver said "
                             "%r to %r" % (line, cmd))
        return line

    def start(self) -> None:
        self._ask("go", "started")

    def stop(self) -> None:
        _, n, t = self._ask("stop", "done").split()
        self.samples += int(n)
        self.seconds += float(t)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait()

    def summary(self) -> dict:
        """As stackwatch's: over every segment so far (its CPU includes
        the attach, made once)."""
        cpu = float(self._ask("cpu", "cpu").split()[1])
        dur = self.seconds or float("nan")
        return {"effective_rate": self.samples / dur,
                "clocked_rate": self.samples / dur,
                "cpu_ms_per_s": 1000.0 * cpu / dur,
                "us_per_pass": 1e6 * cpu / max(1, self.samples)}


PHASE = 0.010  # the longest random wait before a segment's clock, s


def segment(fn: Callable[[], None], units: int, rng: random.Random,
            cfg: Optional[Config] = None) -> float:
    gc.collect()
    if cfg is not None:
        cfg.on()
    time.sleep(rng.random() * PHASE)
    p0 = cfg.passes() if cfg is not None else 0
    t0 = time.perf_counter()
    for _ in range(units):
        fn()
    t = time.perf_counter() - t0
    if cfg is not None:
        cfg.clocked_passes += cfg.passes() - p0
        cfg.clocked_seconds += t
        cfg.off()
    return t


def measure(name: str, configs: List[Config], rounds: int, seg: float,
            rng: random.Random) -> dict:
    fn = load_unit(name)
    fn()
    t = min(segment(fn, 1, rng) for _ in range(3))
    units = max(1, round(seg / t))
    deadline = time.perf_counter() + 1.0      # warm-up: about a second
    while time.perf_counter() < deadline:
        segment(fn, units, rng)
    ratios: Dict[str, List[float]] = {c.label: [] for c in configs}
    a_times: List[float] = []
    for _ in range(rounds):
        order = configs[:]
        rng.shuffle(order)
        for cfg in order:
            a1 = segment(fn, units, rng)
            b = segment(fn, units, rng, cfg)
            a2 = segment(fn, units, rng)
            a_times += [a1, a2]
            ratios[cfg.label].append(b / ((a1 + a2) / 2))
    return {"workload": name, "units": units, "unit_seconds": t,
            "segment_seconds": statistics.median(a_times),
            "ratios": ratios,
            "sampler": {c.label: c.sampler() for c in configs
                        if c.sampler()}}


def median_ci(values: Sequence[float], rng: random.Random
              ) -> Tuple[float, float, float, float, float]:
    """Median, 95% bootstrap interval of the median, quartiles."""
    xs = sorted(values)
    n = len(xs)
    meds = sorted(statistics.median(rng.choices(xs, k=n))
                  for _ in range(BOOTSTRAP))
    q = statistics.quantiles(xs, n=4) if n > 1 else [xs[0]] * 3
    return (statistics.median(xs), meds[int(0.025 * BOOTSTRAP)],
            meds[int(0.975 * BOOTSTRAP) - 1], q[0], q[2])


def verdict(lo: float, hi: float, target: float) -> str:
    if hi <= target:
        return "met"
    if lo > target:
        return "missed"
    return "unresolved"


def beside(report: dict, rng: random.Random) -> List[str]:
    """stackwatch against profiling.sampling at each rate both ran: per
    workload, the ratio of their two B/A ratios of the same round (their
    triples run one after the other), its median and interval; "at or
    below" is met when the whole interval is at or under 1."""
    labels = report["labels"]
    rates = [int(lab.split()[1]) for lab in labels
             if lab.startswith("stackwatch ")
             and "%s %s" % (PS, lab.split(None, 1)[1]) in labels]
    if not rates:
        return []
    names = [r["workload"] for r in report["results"]]
    out = ["stackwatch over profiling.sampling, round by round (their "
           "B/A ratios' quotient; below 1: stackwatch cost less):", "",
           "| rate | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
    for rate in rates:
        cells = []
        for r in report["results"]:
            sw = r["ratios"]["stackwatch %d Hz" % rate]
            ps = r["ratios"]["%s %d Hz" % (PS, rate)]
            med, lo, hi, _, _ = median_ci(
                [a / b for a, b in zip(sw, ps)], rng)
            cells.append("%.4f [%.4f–%.4f] %s" % (
                med, lo, hi, verdict(lo, hi, 1.0).replace(
                    "met", "at or below").replace("missed", "above")))
        out.append("| %d Hz | %s |" % (rate, " | ".join(cells)))
    out.append("")
    return out


def tables(report: dict) -> str:
    rng = random.Random(report["seed"])
    labels = report["labels"]
    names = [r["workload"] for r in report["results"]]
    out = ["| configuration | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
    out.append("| segment, s (units) | " + " | ".join(
        "%.3f (%d)" % (r["segment_seconds"], r["units"])
        for r in report["results"]) + " |")
    verdicts = []
    for label in labels:
        cells = []
        for r in report["results"]:
            vals = r["ratios"][label]
            med, lo, hi, q1, q3 = median_ci(vals, rng)
            cell = "%.4f [%.4f–%.4f]" % (med, lo, hi)
            rate = int(label.split()[1]) if label != "control" else None
            if label.startswith("stackwatch") and rate in TARGETS:
                v = verdict(lo, hi, TARGETS[rate])
                verdicts.append((label, r["workload"], v))
                cell = "**%s** %s" % (cell, v)
            cells.append(cell)
        out.append("| %s | %s |" % (label, " | ".join(cells)))
    out.append("")
    out.append("Median ratio B/A [95%% bootstrap interval of the median]; "
               "%d rounds (pairs) per cell. Targets: ≤1.01 at 100 Hz, "
               "≤1.03 at 1000 Hz." % report["rounds"])
    out.append("")
    out.append("| sampler | " + " | ".join(names) + " |")
    out.append("|---|" + "---|" * len(names))
    for label in labels:
        if not label.startswith(("stackwatch", PS)):
            continue
        out.append("| %s: in-clock rate, CPU ms/s, µs/pass | %s |" % (
            label, " | ".join(
            "%.0f, %.1f, %.1f" % (s.get("clocked_rate", float("nan")),
                                  s["cpu_ms_per_s"], s["us_per_pass"])
            for s in (r["sampler"][label] for r in report["results"]))))
    out.append("")
    out += beside(report, rng)
    out.append("Verdicts: " + ", ".join(
        "%s/%s %s" % (w, lab.split()[1] + " Hz", v)
        for lab, w, v in verdicts))
    return "\n".join(out)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    names = sorted(f[:-3] for f in os.listdir(WORKLOADS)
                   if f.endswith(".py"))
    p = argparse.ArgumentParser(
        description="Sampler overhead, switched on and off in one process.")
    p.add_argument("--rounds", type=int, default=400,
                   help="pairs per cell (default 400)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 40 rounds")
    p.add_argument("--segment", type=float, default=0.02,
                   help="seconds per segment, about (default 0.02)")
    p.add_argument("--workloads", default=",".join(names))
    p.add_argument("--rates", default="100,1000")
    p.add_argument("--tools", default="stackwatch",
                   help="profilers, comma-separated: stackwatch, "
                        "pyinstrument, profiling.sampling (CPython 3.15's, "
                        "from another process: bench/paired_ps.py) "
                        "(default: stackwatch)")
    p.add_argument("--cpu", type=int, metavar="N",
                   help="pin the process to CPU N")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="FILE",
                   help="also save the raw ratios (default: "
                        "out/paired-<date>.json)")
    p.add_argument("--report", metavar="JSON",
                   help="print a saved run's tables and exit")
    a = p.parse_args(argv)
    if a.quick:
        a.rounds = 40
    if a.rounds < 2 or a.segment <= 0:
        p.error("--rounds must be at least 2 and --segment positive")
    a.workloads = [w for w in a.workloads.split(",") if w]
    unknown = set(a.workloads) - set(names)
    if unknown:
        p.error("unknown workload(s): %s" % ", ".join(sorted(unknown)))
    try:
        a.rates = [int(r) for r in a.rates.split(",") if r]
    except ValueError:
        p.error("--rates: comma-separated integers")
    a.tools = [t for t in a.tools.split(",") if t]
    bad = set(a.tools) - {"stackwatch", "pyinstrument", PS}
    if bad:
        p.error("unknown tool(s): %s" % ", ".join(sorted(bad)))
    return a


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parse_args(argv)
    if a.report:
        try:
            with open(a.report) as f:
                print(tables(json.load(f)))
        except (OSError, ValueError, KeyError) as e:
            sys.exit("paired.py: cannot read %s: %s" % (a.report, e))
        return 0
    if a.cpu is not None:
        try:
            os.sched_setaffinity(0, {a.cpu})
        except OSError as e:
            sys.exit("paired.py: --cpu %d: %s" % (a.cpu, e))
    tools = []
    for t in a.tools:
        try:
            __import__(t)
            tools.append(t)
        except ImportError:
            print("paired.py: %s cannot be imported here; left out" % t,
                  file=sys.stderr)
    configs = [Config("control", 0)] + [
        Config(t, r) for t in tools for r in a.rates]
    rng = random.Random(a.seed)
    started = datetime.datetime.now()
    report = {"seed": a.seed, "rounds": a.rounds, "segment": a.segment,
              "cpu": a.cpu, "commit": git_commit(ROOT),
              "python": platform.python_version(),
              "started": started.isoformat(timespec="seconds"),
              "load_start": os.getloadavg()[0],
              "labels": [c.label for c in configs], "results": []}
    for name in a.workloads:
        print("paired.py: %s ..." % name, file=sys.stderr, flush=True)
        report["results"].append(measure(name, configs, a.rounds,
                                         a.segment, rng))
    for cfg in configs:
        cfg.close()
    report["load_end"] = os.getloadavg()[0]
    report["minutes"] = (datetime.datetime.now() - started
                         ).total_seconds() / 60
    path = a.json or os.path.join(
        ROOT, "out", "paired-%s.json" % started.strftime("%Y%m%d-%H%M"))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f)
    print("CPython %s, commit %s, %s; load %.2f at start, %.2f at end; "
          "%.1f minutes; raw data in %s\n" % (
              report["python"], report["commit"],
              "pinned to CPU %d" % a.cpu if a.cpu is not None
              else "2 CPUs free to use",
              report["load_start"], report["load_end"], report["minutes"],
              path))
    print(tables(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
