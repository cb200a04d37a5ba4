"""Overhead benchmarks: stackwatch beside py-spy, austin and pyinstrument.

``make bench`` runs this file with the Python of ``.venv/3.11`` (where the
``bench`` extra installed the three peers).  It is a benchmark, not a
test: it prints Markdown tables, saves them and the raw measurements under
``out/`` and exits 0 whatever the numbers are (non-zero only if the
harness itself cannot run: bad arguments, a workload that fails
unprofiled).  ``--report out/bench-<date>.json`` prints a saved run's
tables again.  BENCHMARKS.md at the top of the repository holds the
tables of full runs and how to read them.

Part 1: overhead on a running program
-------------------------------------
Each workload in bench/workloads/ is a script that runs about a second
and prints nothing.  Every measured process is a fresh interpreter
started as ``[profiler ...] python bench/timed.py RESULT WORKLOAD``;
timed.py times the workload alone (time.perf_counter around it) and
writes the time to RESULT.  Interpreter start-up, profiler start-up and
the writing of the profile are thus excluded: the ratio measures how much
slower the program runs while being profiled, which is what a user of a
long-running service pays.

Configurations: plain python (A), and each profiler at each rate (B):

- stackwatch: ``python -m stackwatch record -r RATE -f collapsed -o F``;
- py-spy: ``py-spy record --nonblocking -r RATE -f raw -o F -- python``
  (nonblocking: it reads memory without stopping the process);
- austin: ``austin -i 1e6/RATE -t 5000 -o F python`` (interval in
  microseconds; -t: python may take 5 s, not 0.1, to start);
- pyinstrument: ``python -m pyinstrument -i 1/RATE -r json -o F``.
  pyinstrument is not a timer-driven sampler: a C profile hook runs on
  every call and return, and records a stack when at least the interval
  has passed, so its cost depends on the call rate more than on -i, and
  it samples only the main thread;
- control: plain python again, measured exactly like a profiler.  Its
  ratio is the noise floor of the method on this machine: any deviation
  from 1.000 there is noise (or drift), not overhead.

Runs alternate A B A B ... A within each (round, workload): every B is run
between two A runs and its ratio is B / mean(A before, A after), so slow
drift of the machine cancels.  The order of the B configurations is
shuffled anew for every (round, workload) from a fixed seed (--seed), so
no configuration always follows the same one.  Rounds are the outer loop:
all workloads are measured in round 1, then in round 2, etc., spreading
every cell over the whole run.  Cells report the median ratio over the
rounds, with the interquartile range, and the number of pairs.

Each profiler's achieved sampling rate is reported too, because a
profiler that silently samples less looks cheaper: stackwatch's own
effective rate (sampling passes per second, from its log line), py-spy's
sample count (stacks of the threads it saw active) over the run's wall
time, austin's main-thread samples over the duration it records, and
pyinstrument's sample count over its session duration.

--cpu N pins every process to one CPU: the sampler (in process or not)
then takes its CPU from the program's core instead of a spare one.

Part 2: the sampler's own CPU with many threads
-----------------------------------------------
bench/sampler_cpu.py starts N threads (1, 10, 50: one busy, N-1 idle,
either blocked or polling, all ~10 frames deep) and samples them in
process with stackwatch.Profiler at 100 and 1000 Hz for a few seconds;
the table shows the sampler thread's CPU time per wall second, its
effective rate and its CPU per sampling pass (medians of --repeats runs).

Part 3: the watchdog
--------------------
bench/monitor.py (run as a child; ``--quick`` is passed on): the cost per
greenlet switch of stackwatch's greenlet tracking and monitor beside
gevent's monitor thread, the latency of stall reports after the threshold
(pure-Python and GIL-held stalls), and the monitor thread's CPU while the
program idles.  Its docstring says how; its tables are appended to this
run's.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from common import git_commit

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOADS = os.path.join(BENCH, "workloads")
TIMED = os.path.join(BENCH, "timed.py")
SAMPLER_CPU = os.path.join(BENCH, "sampler_cpu.py")
MONITOR = os.path.join(BENCH, "monitor.py")
PYTHON = sys.executable

#: Targets of the issue for stackwatch: median ratio at most this.
TARGETS = {100: 1.01, 1000: 1.03}
THREAD_COUNTS = (1, 10, 50)
IDLE_KINDS = ("blocked", "polling")
#: Workloads whose time is all spent in one function: its name (the
#: "right function" table counts the samples that land in it).
RIGHT_FUNCTION = {"gilcall": "hold"}
#: A run taking longer than this is killed and counted as failed.
RUN_TIMEOUT = 120.0


class Unavailable(Exception):
    """A profiler cannot be run here; the message is the one-line why."""


# -- the profilers ----------------------------------------------------------

class Tool:
    """How to run the target under one profiler and read what it sampled.

    exe: the command that starts the profiler (for the in-process ones,
    python -m ...); exe + ["--version"] prints its version.  counts: what
    its sampled rate counts (a note under the table).
    """

    name = ""
    counts = ""

    def __init__(self, exe: List[str]) -> None:
        self.exe = exe

    def command(self, rate: int, out: str, target: List[str]) -> List[str]:
        """The command that runs `target` (python's arguments) sampled at
        `rate` Hz with the profile written to `out`."""
        raise NotImplementedError

    def sampled_rate(self, out: str, output: str, wall: float
                     ) -> Optional[float]:
        """The sampling rate the run achieved (what it counts: see
        `counts`), from the profile `out` or what the run printed,
        `output` (`wall`: the run's wall time); None if it cannot be
        told."""
        raise NotImplementedError

    def recorded_rate(self, out: str, output: str) -> Optional[float]:
        """Samples written into the profile per second of sampling, when
        the profiler says how long it sampled; None otherwise."""
        return None

    #: A frame of function NAME in a line of this tool's collapsed
    #: output ("%s" is NAME); None: the tool writes no collapsed stacks.
    frame_pattern: Optional[str] = None

    def samples_in(self, out: str, name: str) -> Optional[int]:
        """How many samples of the collapsed profile `out` have a frame of
        function `name` on their stack."""
        if self.frame_pattern is None:
            return None
        frame = re.compile(self.frame_pattern % re.escape(name))
        count = 0
        with open(out, errors="replace") as f:
            for line in f:
                stack, _, n = line.rstrip("\n").rpartition(" ")
                if frame.search(stack):
                    count += int(n)
        return count


def collapsed_total(out: str) -> int:
    """The number of samples in a collapsed-stacks file."""
    total = 0
    with open(out, errors="replace") as f:
        for line in f:
            total += int(line.rstrip("\n").rpartition(" ")[2])
    return total


class Stackwatch(Tool):
    name = "stackwatch"
    counts = ("stackwatch: the effective rate it reports (sampling passes "
              "over all threads per second).")

    def command(self, rate: int, out: str, target: List[str]) -> List[str]:
        return self.exe + ["record", "-r", str(rate), "-f", "collapsed",
                           "-o", out] + target

    def sampled_rate(self, out: str, output: str, wall: float
                     ) -> Optional[float]:
        m = re.search(r"\(([\d.]+) Hz effective", output)
        return float(m.group(1)) if m else None

    # "<name> (file.py:12)" at the start of the line or after a ";".
    frame_pattern = r"(?:^|;)%s \("

    def recorded_rate(self, out: str, output: str) -> Optional[float]:
        m = re.search(r"\] (\d+) samples in ([\d.]+) s", output)
        if not m or float(m.group(2)) <= 0:
            return None
        return collapsed_total(out) / float(m.group(2))


class PySpy(Tool):
    name = "py-spy"
    counts = ("py-spy: its `Samples:` count over the run's wall time; it "
              "counts the stacks of threads it saw active, so this is its "
              "rate with one busy thread, and more than that in `threads` "
              "where several threads run at once.")

    def command(self, rate: int, out: str, target: List[str]) -> List[str]:
        return self.exe + ["record", "--nonblocking", "-r", str(rate),
                           "-f", "raw", "-o", out, "--", PYTHON] + target

    def sampled_rate(self, out: str, output: str, wall: float
                     ) -> Optional[float]:
        m = re.search(r"Samples: (\d+)", output)
        return int(m.group(1)) / wall if m else None


class Austin(Tool):
    name = "austin"
    counts = ("austin: samples of the main thread over the sampling "
              "duration it records.")

    def command(self, rate: int, out: str, target: List[str]) -> List[str]:
        # -t: wait up to 5 s (not 0.1) for python to start; on a loaded
        # machine it can take longer, and austin then gives up.
        return self.exe + ["-i", str(1_000_000 // rate), "-t", "5000",
                           "-o", out, PYTHON] + target

    def sampled_rate(self, out: str, output: str, wall: float
                     ) -> Optional[float]:
        # One line per sample and thread, "P<pid>;T<n>:<tid>;frames m";
        # the main thread's tid is the pid.  "# duration: <us>" at the end.
        main = 0
        duration = None
        with open(out, errors="replace") as f:
            for line in f:
                if line.startswith("# duration:"):
                    duration = int(line.split(":")[1]) / 1e6
                    continue
                m = re.match(r"P(\d+);T\d+:(\d+);", line)
                if m and m.group(1) == m.group(2):
                    main += 1
        return main / duration if duration else None


class Pyinstrument(Tool):
    name = "pyinstrument"
    counts = ("pyinstrument: its sample count over its session's "
              "duration; it samples the main thread only, and only when "
              "that thread makes calls (in `threads` it waits in join()).")

    def command(self, rate: int, out: str, target: List[str]) -> List[str]:
        return self.exe + ["-i", repr(1.0 / rate), "-r", "json", "-o", out
                           ] + target

    def sampled_rate(self, out: str, output: str, wall: float
                     ) -> Optional[float]:
        with open(out) as f:
            session = json.load(f)
        duration = session.get("duration")
        count = session.get("sample_count")
        return count / duration if duration and count is not None else None


class ProfilingSampling(Tool):
    name = "profiling.sampling"
    counts = ("profiling.sampling (CPython 3.15's own sampler, run from "
              "outside with -a, every thread): the samples it captured per "
              "second, from its summary (errors included).")

    def command(self, rate: int, out: str, target: List[str]) -> List[str]:
        return self.exe + ["run", "-a", "-r", str(rate), "--collapsed",
                           "-o", out] + target

    def sampled_rate(self, out: str, output: str, wall: float
                     ) -> Optional[float]:
        m = re.search(r"Captured (\d+) samples in ([\d.]+) seconds", output)
        if not m or float(m.group(2)) <= 0:
            return None
        return int(m.group(1)) / float(m.group(2))

    # "file.py:<name>:12" at the start of the line or after a ";".
    frame_pattern = r"(?:^|;)[^;]*:%s:\d+"

    def recorded_rate(self, out: str, output: str) -> Optional[float]:
        m = re.search(r"Captured \d+ samples in ([\d.]+) seconds", output)
        if not m or float(m.group(1)) <= 0:
            return None
        return collapsed_total(out) / float(m.group(1))


TOOL_CLASSES = {t.name: t for t in (Stackwatch, PySpy, Austin, Pyinstrument,
                                    ProfilingSampling)}
TOOLS = tuple(TOOL_CLASSES)


def find_executable(name: str) -> Optional[str]:
    """`name` beside this Python (a venv's bin/) first, then on PATH."""
    here = os.path.join(os.path.dirname(PYTHON), name)
    if os.access(here, os.X_OK):
        return here
    return shutil.which(name)


def make_tool(name: str, austin: Optional[str]) -> Tool:
    """The Tool called `name`; raises Unavailable if it is not installed."""
    if name == "stackwatch":
        return Stackwatch([PYTHON, "-m", "stackwatch"])
    if name == "pyinstrument":
        return Pyinstrument([PYTHON, "-m", "pyinstrument"])
    if name == "profiling.sampling":
        if sys.version_info < (3, 15):
            raise Unavailable("profiling.sampling is CPython 3.15's; this "
                              "is %d.%d (make bench-cpython runs it on 3.15)"
                              % sys.version_info[:2])
        return ProfilingSampling([PYTHON, "-m", "profiling.sampling"])
    if name == "austin" and austin:
        exe: Optional[str] = os.path.abspath(austin)
    else:
        exe = find_executable(name)
    if exe is None:
        raise Unavailable("%s is not installed (pip install %s)" % (
            name, {"py-spy": "py-spy", "austin": "austin-dist"}[name]))
    return TOOL_CLASSES[name]([exe])


# -- running one process ----------------------------------------------------

class Run(NamedTuple):
    """One measured process."""
    seconds: Optional[float]      #: the workload's wall time (timed.py)
    cpu_seconds: Optional[float]  #: the workload process's CPU over it
    wall: float                   #: the whole command's wall time
    sampled_hz: Optional[float]   #: sampling rate achieved, if known
    error: Optional[str]          #: why it failed, None if it did not
    #: CPU seconds of the whole command: the program, an in-process
    #: sampler's thread, an outside profiler's process
    tree_cpu: Optional[float] = None
    #: samples written into the profile per second of sampling, if known
    recorded_hz: Optional[float] = None
    #: in a workload of RIGHT_FUNCTION: samples in that function, and the
    #: number the rate asked for over the workload's time
    in_function: Optional[int] = None
    expected: Optional[float] = None


def reason(output: str) -> str:
    """One line from a failed command's output that says why: the first
    "Error: ..." line (py-spy); else the last paragraph: its last line
    if it is a Python traceback, else all of it joined (austin wraps its
    messages)."""
    lines = [ln.strip() for ln in output.splitlines()]
    for ln in lines:
        if ln.startswith("Error:"):
            return ln
    paragraphs = [p.split("\n") for p in "\n".join(lines).split("\n\n")
                  if p.strip()]
    if not paragraphs:
        return ""
    last = paragraphs[-1]
    if last[0].startswith("Traceback"):
        return last[-1]
    return " ".join(last)


def children_cpu() -> float:
    """CPU seconds of every child process waited for so far (and of the
    children they waited for)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def execute(argv: List[str], cwd: str, timeout: float = RUN_TIMEOUT
            ) -> Tuple[int, str, float]:
    """Runs argv in its own session (so that a timeout kills the profiler
    and its target together); returns (status, what it printed on
    stdout and stderr, wall seconds).  A timeout, or a command that
    cannot be started, gives status -1 and the reason."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as e:
        return -1, "cannot run %s: %s" % (argv[0], e.strerror), 0.0
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return -1, "timed out after %g s" % timeout, time.perf_counter() - t0
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return (proc.returncode, output.decode("utf-8", "replace"),
            time.perf_counter() - t0)


def measure(tool: Optional[Tool], rate: int, workload: str, tmp: str) -> Run:
    """Runs `workload` once, plain (tool None) or under `tool` at `rate`."""
    result = os.path.join(tmp, "result.json")
    out = os.path.join(tmp, "profile.out")
    for path in (result, out):
        if os.path.exists(path):
            os.unlink(path)
    target = [TIMED, result, workload]
    argv = [PYTHON] + target if tool is None else tool.command(rate, out,
                                                               target)
    cpu0 = children_cpu()
    status, output, wall = execute(argv, tmp)
    tree_cpu = children_cpu() - cpu0
    error = None
    if status != 0:
        error = reason(output) or "exit status %d" % status
    elif not os.path.exists(result):
        error = "the workload wrote no timing"
    if error is not None:
        return Run(None, None, wall, None, error)
    with open(result) as f:
        timing = json.load(f)
    sampled_hz = recorded_hz = in_function = expected = None
    if tool is not None:
        try:
            sampled_hz = tool.sampled_rate(out, output, wall)
            recorded_hz = tool.recorded_rate(out, output)
        except (OSError, ValueError):
            pass  # shown as "?": the profile could not be read
        name = RIGHT_FUNCTION.get(os.path.basename(workload)[:-3])
        if name is not None:
            try:
                in_function = tool.samples_in(out, name)
            except (OSError, ValueError):
                pass
            expected = rate * timing["seconds"]
    return Run(timing["seconds"], timing["cpu_seconds"], wall, sampled_hz,
               None, tree_cpu, recorded_hz, in_function, expected)


def probe(tool: Tool, rates: Sequence[int], tmp: str) -> None:
    """Raises Unavailable with the reason if `tool` cannot profile a
    small script at every rate here (missing library, no ptrace rights,
    ...).  The script runs for a moment: py-spy fails on a process that
    is gone before it could look at it."""
    script = os.path.join(tmp, "probe.py")
    with open(script, "w") as f:
        f.write("import time\nend = time.time() + 0.3\n"
                "while time.time() < end:\n    pass\n")
    for rate in rates:
        run = measure(tool, rate, script, tmp)
        if run.error is not None:
            raise Unavailable(run.error)


def tool_version(tool: Tool, tmp: str) -> str:
    """The version `tool --version` prints, "?" if it prints none."""
    if isinstance(tool, ProfilingSampling):
        return platform.python_version()  # it is part of CPython
    try:
        proc = subprocess.run(tool.exe + ["--version"], cwd=tmp,
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(r"\d+(\.\d+)+", proc.stdout + proc.stderr)
    return m.group(0) if m else "?"


# -- part 1: overhead --------------------------------------------------------

class Config(NamedTuple):
    tool: str   #: a name in TOOLS, or "control" (plain python as a B)
    rate: int   #: Hz; 0 for the control

    @property
    def label(self) -> str:
        if self.tool == "control":
            return "control (no profiler)"
        return "%s %d Hz" % (self.tool, self.rate)


def run_overhead(workloads: List[str], tools: Dict[str, Tool],
                 rates: Sequence[int], rounds: int, seed: int, tmp: str,
                 log: List[dict]) -> None:
    """Measures every (workload, config) `rounds` times, A B A B ..., and
    appends one record per process to `log`."""
    configs = [Config("control", 0)] + [Config(t, r) for t in tools
                                        for r in rates]
    rng = random.Random(seed)
    runs_per_round = len(workloads) * (2 * len(configs) + 1)
    done = 0
    start = time.monotonic()
    for rnd in range(rounds):
        for wl in workloads:
            path = os.path.join(WORKLOADS, wl + ".py")
            order = configs[:]
            rng.shuffle(order)
            sequence = [None] + [c for cfg in order for c in (cfg, None)]
            for pos, cfg in enumerate(sequence):
                tool = tools[cfg.tool] if cfg and cfg.tool in tools else None
                run = measure(tool, cfg.rate if cfg else 0, path, tmp)
                if cfg is None and run.error is not None:
                    raise SystemExit("bench: the %s workload fails without "
                                     "a profiler: %s" % (wl, run.error))
                log.append(dict(run._asdict(), round=rnd, workload=wl,
                                position=pos,
                                tool=cfg.tool if cfg else "baseline",
                                rate=cfg.rate if cfg else 0,
                                loadavg=os.getloadavg()[0]))
                done += 1
            elapsed = time.monotonic() - start
            left = elapsed / done * (rounds * runs_per_round - done)
            progress("round %d/%d, %s done (%.0f s elapsed, ~%.0f s left)"
                     % (rnd + 1, rounds, wl, elapsed, left))


def pair_ratios(log: List[dict]) -> Dict[Tuple[str, Config], List[dict]]:
    """For every B run of the log, its ratio to the mean of the A runs
    either side of it and the rate it sampled at, by cell:
    {(workload, config): [{"ratio": r, "sampled_hz": hz}, ...]}, with
    {"error": why} entries for the B runs that failed."""
    cells: Dict[Tuple[str, Config], List[dict]] = {}
    seq: Dict[Tuple[int, str], List[dict]] = {}
    for rec in log:
        seq.setdefault((rec["round"], rec["workload"]), []).append(rec)
    for (_, wl), recs in seq.items():
        recs.sort(key=lambda r: r["position"])
        for i in range(1, len(recs) - 1, 2):
            a0, b, a1 = recs[i - 1], recs[i], recs[i + 1]
            cfg = Config(b["tool"], b["rate"])
            if b["error"] is not None:
                entry = {"error": b["error"]}
            else:
                base = (a0["seconds"] + a1["seconds"]) / 2
                entry = {"ratio": b["seconds"] / base,
                         "sampled_hz": b["sampled_hz"],
                         "recorded_hz": b.get("recorded_hz")}
                cpus = [r.get("tree_cpu") for r in (a0, b, a1)]
                if None not in cpus and b["wall"] > 0:
                    # The profiler's own CPU: the whole command's CPU
                    # beyond the unprofiled runs', per second of the run.
                    entry["own_cpu_ms"] = 1000 * (
                        cpus[1] - (cpus[0] + cpus[2]) / 2) / b["wall"]
                if b.get("in_function") is not None and b.get("expected"):
                    entry["right_share"] = b["in_function"] / b["expected"]
            cells.setdefault((wl, cfg), []).append(entry)
    return cells


def quartiles(values: List[float]) -> Tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def overhead_tables(log: List[dict], workloads: List[str],
                    measured: Sequence[str], unavailable: Dict[str, str],
                    rates: Sequence[int]) -> str:
    """The Markdown of part 1: ratios, achieved rates, target verdicts.
    measured: the tools that ran; unavailable: why the others did not."""
    cells = pair_ratios(log)
    rows = [Config("control", 0)] + [Config(t, r) for t in TOOLS
                                     for r in rates
                                     if t in measured or t in unavailable]
    head = "| configuration | " + " | ".join(workloads) + " |"
    rule = "|---|" + "---|" * len(workloads)
    base = {wl: statistics.median(r["seconds"] for r in log
                                  if r["workload"] == wl
                                  and r["tool"] == "baseline")
            for wl in workloads}
    ratio_lines = [head + " runs |", rule + "---|",
                   "| unprofiled time, s (median) | " + " | ".join(
                       "%.3f" % base[wl] for wl in workloads) + " | %d |"
                   % min(sum(1 for r in log if r["workload"] == wl
                             and r["tool"] == "baseline")
                         for wl in workloads)]
    rate_lines = [head, rule]
    notes = [TOOL_CLASSES[t].counts for t in TOOLS if t in measured]
    verdicts: List[str] = []
    control: List[float] = []
    #: (tool, reason) -> the cells of the runs that failed so
    failures: Dict[Tuple[str, str], List[str]] = {}
    for cfg in rows:
        if cfg.tool in unavailable:
            dash = " | ".join("–" for _ in workloads)
            ratio_lines.append("| %s | %s | 0 |" % (cfg.label, dash))
            rate_lines.append("| %s | %s |" % (cfg.label, dash))
            note = "%s: not run: %s" % (cfg.tool, unavailable[cfg.tool])
            if note not in notes:
                notes.append(note)
            continue
        ratio_cells, rate_cells, counts = [], [], []
        misses, unmeasured = [], []
        for wl in workloads:
            entries = cells.get((wl, cfg), [])
            ok = [e for e in entries if "ratio" in e]
            for e in entries:
                if "error" in e:
                    failures.setdefault((cfg.tool, e["error"]), []).append(
                        "%d Hz %s" % (cfg.rate, wl))
            counts.append(len(ok))
            if not ok:
                ratio_cells.append("failed")
                rate_cells.append("–")
                unmeasured.append(wl)
                continue
            q1, med, q3 = quartiles([e["ratio"] for e in ok])
            if cfg.tool == "control":
                control.append(med)
            ratio_cells.append("**%.3f** (%.3f–%.3f)" % (med, q1, q3)
                               if cfg.tool == "stackwatch" else
                               "%.3f (%.3f–%.3f)" % (med, q1, q3))
            achieved = [e["sampled_hz"] for e in ok
                        if e["sampled_hz"] is not None]
            rate_cells.append("%.0f" % statistics.median(achieved)
                              if achieved else "?")
            if cfg.tool == "stackwatch" and med > TARGETS.get(cfg.rate,
                                                              float("inf")):
                misses.append("%s %.3f" % (wl, med))
        ratio_lines.append("| %s | %s | %d |" % (
            cfg.label, " | ".join(ratio_cells), min(counts)))
        if cfg.tool != "control":
            rate_lines.append("| %s | %s |" % (cfg.label,
                                               " | ".join(rate_cells)))
        if cfg.tool == "stackwatch" and cfg.rate in TARGETS:
            verdict = "**missed** on " + ", ".join(misses) if misses else (
                "**met**")
            if unmeasured:
                verdict += "; not measured on " + ", ".join(unmeasured)
            verdicts.append("- stackwatch at %d Hz, target ≤ %.2f on every "
                            "workload: %s" % (cfg.rate, TARGETS[cfg.rate],
                                              verdict))
    for (tool, why), where in failures.items():
        notes.append("%s: %d run%s failed (%s): %s" % (
            tool, len(where), "s" if len(where) > 1 else "",
            ", ".join(where), why))
    if control:
        off = max(abs(m - 1) for m in control)
        verdicts.append(
            "- noise floor: without a profiler the medians (control row) "
            "were %.3f to %.3f, up to %.1f%% away from 1 by noise alone; "
            "this run does not resolve a smaller overhead"
            % (min(control), max(control), 100 * off))
    out = ["### Wall-time ratio, profiled / unprofiled",
           "",
           "Median over the rounds (interquartile range); runs: pairs per "
           "cell (the fewest of the row).",
           ""] + ratio_lines + [""] + verdicts
    out += ["", "### Sampling rate achieved (samples per second, median)",
            ""] + rate_lines + ["", "What each rate counts, and what "
                                "failed:", ""] + ["- " + n for n in notes]
    return "\n".join(out) + "\n"


def median_cell(entries: List[dict], key: str, fmt: str) -> str:
    values = [e[key] for e in entries if e.get(key) is not None]
    return fmt % statistics.median(values) if values else "?"


def more_tables(log: List[dict], workloads: List[str],
                measured: Sequence[str], rates: Sequence[int]) -> str:
    """The Markdown of part 1's other measures: samples recorded per
    second, the profiler's own CPU, samples in the right function during a
    GIL-held C call; and, when CPython's profiling.sampling ran, how
    stackwatch compares with it."""
    cells = pair_ratios(log)
    tools = [t for t in TOOLS if t in measured]
    rows = [Config(t, r) for t in tools for r in rates]
    head = "| configuration | " + " | ".join(workloads) + " |"
    rule = "|---|" + "---|" * len(workloads)

    def table(key: str, fmt: str, only: Sequence[str]) -> List[str]:
        lines = []
        for cfg in rows:
            cols = [median_cell(cells.get((wl, cfg), []), key, fmt)
                    for wl in only]
            if all(c == "?" for c in cols):
                continue
            lines.append("| %s | %s |" % (cfg.label, " | ".join(cols)))
        return lines

    out = []
    rec = table("recorded_hz", "%.0f", workloads)
    if rec:
        out += ["### Samples recorded per second (median)", "",
                "Samples written into the profile (one per thread per "
                "pass) per second of sampling, for the profilers that say "
                "how long they sampled.", "", head, rule] + rec + [""]
    cpu = table("own_cpu_ms", "%.0f", workloads)
    if cpu:
        out += ["### The profiler's own CPU (ms per second, median)", "",
                "CPU of the whole command (program, in-process sampler "
                "thread, outside profiler process, its start-up included) "
                "beyond the mean of the two unprofiled runs beside it, per "
                "second of the profiled run's wall time.", "", head, rule
                ] + cpu + [""]
    right = [w for w in workloads if w in RIGHT_FUNCTION]
    if right:
        r_lines = table("right_share", "%.3f", right)
        if r_lines:
            out += ["### Samples in the right function during a GIL-held C "
                    "call (median share)", "",
                    "Samples with `%s` on the stack over the number the "
                    "rate asks for in the workload's time (1.000: every "
                    "sample where it should be)." % ", ".join(
                        RIGHT_FUNCTION[w] for w in right), "",
                    "| configuration | " + " | ".join(right) + " |",
                    "|---|" + "---|" * len(right)] + r_lines + [""]
    if "stackwatch" in tools and "profiling.sampling" in tools:
        out += ["### stackwatch beside CPython's profiling.sampling", ""]
        for rate in rates:
            sw, ps = Config("stackwatch", rate), Config("profiling.sampling",
                                                        rate)
            worse_ratio, fewer = [], []
            for wl in workloads:
                a, b = cells.get((wl, sw), []), cells.get((wl, ps), [])
                ra = [e["ratio"] for e in a if "ratio" in e]
                rb = [e["ratio"] for e in b if "ratio" in e]
                if ra and rb and statistics.median(ra) > statistics.median(rb):
                    worse_ratio.append("%s %.3f > %.3f" % (
                        wl, statistics.median(ra), statistics.median(rb)))
                ha = [e["recorded_hz"] for e in a if e.get("recorded_hz")]
                hb = [e["recorded_hz"] for e in b if e.get("recorded_hz")]
                if ha and hb and statistics.median(ha) < statistics.median(hb):
                    fewer.append("%s %.0f < %.0f" % (
                        wl, statistics.median(ha), statistics.median(hb)))
            out.append("- %d Hz, overhead at or below profiling.sampling's "
                       "on every workload: %s" % (rate, "**missed** on " +
                                                  ", ".join(worse_ratio)
                                                  if worse_ratio else "**met**"))
            out.append("- %d Hz, samples recorded at or above "
                       "profiling.sampling's on every workload: %s" % (
                           rate, "**missed** on " + ", ".join(fewer)
                           if fewer else "**met**"))
        out.append("")
    return "\n".join(out)


# -- part 2: the sampler's CPU with many threads ---------------------------

def run_sampler_cpu(rates: Sequence[int], seconds: float, repeats: int,
                    seed: int, tmp: str, log: List[dict]) -> None:
    """Runs sampler_cpu.py for every (threads, idle kind, rate),
    `repeats` times in a shuffled order; appends its stats to `log`."""
    jobs = [(n, idle, rate) for n in THREAD_COUNTS for idle in IDLE_KINDS
            for rate in rates if n > 1 or idle == IDLE_KINDS[0]] * repeats
    random.Random(seed).shuffle(jobs)
    for i, (n, idle, rate) in enumerate(jobs):
        argv = [PYTHON, SAMPLER_CPU, str(n), str(rate), str(seconds), idle]
        proc = subprocess.run(argv, cwd=tmp, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT + seconds)
        rec = {"threads": n, "idle": idle, "rate": rate}
        if proc.returncode != 0:
            rec["error"] = reason(proc.stderr) or "exit status %d" % (
                proc.returncode)
        else:
            rec.update(json.loads(proc.stdout))
        log.append(rec)
        if (i + 1) % len(THREAD_COUNTS) == 0 or i + 1 == len(jobs):
            progress("sampler CPU: %d/%d runs" % (i + 1, len(jobs)))


def sampler_cpu_table(log: List[dict], rates: Sequence[int]) -> str:
    """The Markdown of part 2."""
    head = "| threads | idle threads |" + "".join(
        " %d Hz: CPU ms/s | %d Hz: rate | %d Hz: µs/pass |" % (r, r, r)
        for r in rates)
    lines = [head, "|---|---|" + "---|---|---|" * len(rates)]
    notes = []
    for n in THREAD_COUNTS:
        for idle in IDLE_KINDS:
            if n == 1 and idle != IDLE_KINDS[0]:
                continue  # one thread: there is no idle thread to vary
            row = "| %d | %s |" % (n, idle if n > 1 else "none")
            for rate in rates:
                recs = [r for r in log if r["threads"] == n and
                        r["rate"] == rate and r["idle"] == idle]
                ok = [r for r in recs if "error" not in r]
                notes += ["%d threads (%s) at %d Hz: %s" % (
                    n, idle, rate, r["error"]) for r in recs if "error" in r]
                if not ok:
                    row += " failed | – | – |"
                    continue
                cpu = [1000 * r["cpu_per_second"] for r in ok]
                row += " %.1f (%.1f–%.1f) | %.0f | %.0f |" % (
                    statistics.median(cpu), min(cpu), max(cpu),
                    statistics.median(r["effective_rate"] for r in ok),
                    statistics.median(1e6 * r["sampler_cpu_seconds"]
                                      / max(1, r["passes"]) for r in ok))
            lines.append(row)
    per_config: Dict[Tuple[int, str, int], int] = {}
    for r in log:
        key = (r["threads"], r["idle"], r["rate"])
        per_config[key] = per_config.get(key, 0) + 1
    seconds = next((r["seconds"] for r in log if "seconds" in r), 0)
    out = ["### Sampler CPU per wall second (stackwatch, in process)", "",
           "%g-second runs, %d per configuration. CPU ms/s: milliseconds "
           "of CPU the sampler thread used per second, median (min–max) "
           "of the runs; rate: effective passes per second; µs/pass: "
           "sampler CPU per sampling pass over all threads."
           % (seconds, max(per_config.values())), ""] + lines
    if notes:
        out += ["", "Notes:", ""] + ["- " + n for n in notes]
    return "\n".join(out) + "\n"


# -- part 3: the watchdog ----------------------------------------------------

def run_watchdog(quick: bool, tmp: str) -> dict:
    """Runs bench/monitor.py; returns its report (with its Markdown), or
    {"error": why}."""
    path = os.path.join(tmp, "monitor.json")
    argv = [PYTHON, MONITOR, "--json", path] + (["--quick"] if quick else [])
    progress("watchdog: running bench/monitor.py")
    # Its progress and errors go straight to our stderr.
    try:
        proc = subprocess.run(argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, timeout=3600)
    except subprocess.TimeoutExpired:
        return {"error": "bench/monitor.py timed out"}
    if proc.returncode != 0 or not os.path.exists(path):
        return {"error": "bench/monitor.py failed (exit status %d; its "
                "message is on stderr)" % proc.returncode}
    with open(path) as f:
        return json.load(f)


# -- the whole run ----------------------------------------------------------

def progress(message: str) -> None:
    sys.stderr.write("[bench] %s\n" % message)
    sys.stderr.flush()


def machine() -> dict:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = git_commit(ROOT)
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "kernel": platform.release(), "python": sys.version.split()[0],
            "commit": commit, "loadavg_at_start": os.getloadavg()}


def stackwatch_build() -> str:
    """The installed stackwatch extension and when it was built, to tell
    whether it was reinstalled during the run (a shared venv can be)."""
    code = ("import os, stackwatch._native as n; "
            "print(n.__file__, int(os.path.getmtime(n.__file__)))")
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True,
                          text=True, timeout=60)
    return proc.stdout.strip() or "not importable: " + reason(proc.stderr)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Overhead of stackwatch, py-spy, austin and "
                    "pyinstrument on bench/workloads (wall-time ratio "
                    "profiled/unprofiled, alternating runs), and the "
                    "stackwatch sampler's CPU with 1, 10 and 50 threads; "
                    "then the watchdog's benchmarks (bench/monitor.py).")
    names = sorted(f[:-3] for f in os.listdir(WORKLOADS)
                   if f.endswith(".py") and not f.startswith("_"))
    p.add_argument("--rounds", type=int, default=11,
                   help="A B A B rounds per workload and configuration "
                        "(default 11)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 round, 1-second sampler-CPU runs "
                        "without repeats, bench/monitor.py --quick (a few "
                        "minutes)")
    p.add_argument("--workloads", default=",".join(names),
                   help="comma-separated, from: %s" % ", ".join(names))
    p.add_argument("--tools", default=",".join(
                       t for t in TOOLS if t != "profiling.sampling"
                       or sys.version_info >= (3, 15)),
                   help="comma-separated profilers to compare, from: %s"
                        % ", ".join(TOOLS))
    p.add_argument("--rates", default="100,1000",
                   help="sampling rates in Hz (default 100,1000)")
    p.add_argument("--only", choices=("overhead", "sampler-cpu", "watchdog"),
                   help="run one part only")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs per sampler-CPU configuration (default 3)")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="length of a sampler-CPU run (default 3)")
    p.add_argument("--austin", metavar="PATH",
                   help="the austin binary to use (default: the one beside "
                        "this Python, else on PATH)")
    p.add_argument("--cpu", type=int, metavar="N",
                   help="run every process on CPU N only (an affinity "
                        "they inherit): a sampler then takes its CPU from "
                        "the program's core instead of a spare one")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the run order (default 1)")
    p.add_argument("--report", metavar="JSON",
                   help="print the tables of a saved run (an "
                        "out/bench-*.json) again; measures nothing")
    p.add_argument("--out", metavar="DIR", default=os.path.join(ROOT, "out"),
                   help="where to save bench-<date>.json and .md "
                        "(default: out/)")
    ns = p.parse_args(argv)
    ns.workloads = [w for w in ns.workloads.split(",") if w]
    ns.tools = [t for t in ns.tools.split(",") if t]
    try:
        ns.rates = [int(r) for r in ns.rates.split(",") if r]
    except ValueError:
        p.error("--rates takes integers, e.g. 100,1000")
    for w in ns.workloads:
        if w not in names:
            p.error("unknown workload %r (choose from %s)"
                    % (w, ", ".join(names)))
    for t in ns.tools:
        if t not in TOOLS:
            p.error("unknown tool %r (choose from %s)"
                    % (t, ", ".join(TOOLS)))
    if not all(1 <= r <= 1000 for r in ns.rates):
        p.error("rates must be between 1 and 1000 Hz")
    if ns.rounds < 1 or ns.repeats < 1 or ns.seconds <= 0:
        p.error("--rounds, --repeats and --seconds must be positive")
    if ns.cpu is not None and ns.cpu not in os.sched_getaffinity(0):
        p.error("--cpu: CPU %d is not available here" % ns.cpu)
    if ns.quick:
        ns.rounds, ns.repeats, ns.seconds = 1, 1, 1.0
    return ns


def render(report: dict) -> str:
    """The Markdown of a run, from its report (see main)."""
    m = report["machine"]
    blocks = ["## stackwatch benchmarks, %s" % report["started"].replace(
        "T", " ")[:16],
        "Machine: %s CPUs (%s), Linux %s, CPython %s; work tree at commit "
        "%s; load average at start %.2f." % (
            m["cpus"], m["cpu_model"], m["kernel"], m["python"],
            m["commit"], m["loadavg_at_start"][0])]
    if report.get("cpu") is not None:
        blocks.append("Every process pinned to CPU %d." % report["cpu"])
    builds = report.get("stackwatch_builds", [])
    if len(set(builds)) > 1:
        blocks.append("**Warning:** stackwatch was reinstalled during this "
                      "run (%s); its rows mix two builds."
                      % " -> ".join(builds))
    if report["overhead"]:
        blocks += ["Versions: %s." % ", ".join(
            "%s %s" % kv for kv in report["versions"].items()),
            "Rounds: %d, seed %d; workloads run ~1 s each." % (
                report["rounds"], report["seed"]),
            overhead_tables(report["overhead"], report["workloads"],
                            list(report["versions"]), report["unavailable"],
                            report["rates"]),
            more_tables(report["overhead"], report["workloads"],
                        list(report["versions"]), report["rates"])]
    if report["sampler_cpu"]:
        blocks.append(sampler_cpu_table(report["sampler_cpu"],
                                        report["rates"]))
    watchdog = report.get("watchdog")
    if watchdog and "markdown" in watchdog:
        blocks.append(watchdog["markdown"])
    elif watchdog:
        blocks.append("## Watchdog benchmarks (bench/monitor.py)\n\nNot run: "
                      "%s" % watchdog.get("error", "?"))
    blocks.append("Load average at the end %.2f; the run took %.1f "
                  "minutes." % (m["loadavg_at_end"][0], report["minutes"]))
    return "\n\n".join(b.strip("\n") for b in blocks) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ns = parse_args(argv)
    if ns.report:
        with open(ns.report) as f:
            sys.stdout.write(render(json.load(f)))
        return 0
    if ns.cpu is not None:
        os.sched_setaffinity(0, {ns.cpu})
    started = datetime.datetime.now()
    report = {"started": started.isoformat(timespec="seconds"),
              "argv": sys.argv, "machine": machine(),
              "rounds": ns.rounds, "seed": ns.seed, "rates": ns.rates,
              "cpu": ns.cpu, "workloads": ns.workloads, "versions": {},
              "unavailable": {}, "overhead": [], "sampler_cpu": [],
              "stackwatch_builds": [stackwatch_build()]}
    with tempfile.TemporaryDirectory(prefix="stackwatch-bench-") as tmp:
        if ns.only in (None, "overhead"):
            tools: Dict[str, Tool] = {}
            for name in ns.tools:
                try:
                    tool = make_tool(name, ns.austin)
                    probe(tool, ns.rates, tmp)
                except Unavailable as e:
                    report["unavailable"][name] = str(e)
                    progress("%s: not run: %s" % (name, e))
                    continue
                tools[name] = tool
                report["versions"][name] = tool_version(tool, tmp)
            run_overhead(ns.workloads, tools, ns.rates, ns.rounds, ns.seed,
                         tmp, report["overhead"])
        if ns.only in (None, "sampler-cpu"):
            run_sampler_cpu(ns.rates, ns.seconds, ns.repeats, ns.seed, tmp,
                            report["sampler_cpu"])
        if ns.only in (None, "watchdog"):
            report["watchdog"] = run_watchdog(ns.quick, tmp)
    report["stackwatch_builds"].append(stackwatch_build())
    report["machine"]["loadavg_at_end"] = os.getloadavg()
    report["minutes"] = (datetime.datetime.now()
                         - started).total_seconds() / 60
    text = render(report)
    os.makedirs(ns.out, exist_ok=True)
    stem = os.path.join(ns.out, "bench-%s" % started.strftime(
        "%Y%m%d-%H%M%S"))
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(text)
    sys.stdout.write(text)
    progress("saved %s.json and %s.md" % (stem, stem))
    return 0


if __name__ == "__main__":
    sys.exit(main())
