"""Watchdog benchmarks: what stackwatch.monitor costs and how fast it reports.

``make bench`` runs this file from bench/run.py (its part 3, "Watchdog");
it can also run alone::

    python bench/monitor.py            # the full run, ~9 minutes
    python bench/monitor.py --quick    # a smoke run, ~1.5 minutes
    python bench/monitor.py --json out/monitor.json   # also save raw data

It prints Markdown tables and exits 0 whatever the numbers are (non-zero
only if the harness itself cannot run).  Every measurement is made in a
fresh child process (this file run with ``--child ...``); gevent and
greenlet must be installed (the ``bench`` extra).

Part A: cost per greenlet switch
--------------------------------
Two workloads: ``raw``, two ``greenlet.greenlet``s ping-ponging with
``.switch()`` (the count is of switches); ``gevent``, 4 greenlets doing
``gevent.sleep(0)`` in a loop (the count is of sleep(0) calls; how many
greenlet switches one sleep(0) makes is counted once, with a trace
function, in a separate process, and the ns/switch column divides by it).
In both the hub has run first (``gevent.sleep(0)``), so that it is
watched in (c) and gevent's monitor thread runs in (d).  Configurations:

- (a) nothing;
- (b) ``stackwatch._greenlets.start_tracking()``: stackwatch's C greenlet
  hook (greenlet.settrace), without the monitor;
- (c) ``stackwatch.monitor.start(max_blocking_time=0.1)`` before gevent is
  imported: tracking, plus the native monitor thread watching the hub;
- (d) gevent's own monitor: ``GEVENT_MONITOR_THREAD_ENABLE=1``,
  ``GEVENT_MAX_BLOCKING_TIME=0.1`` (its Python trace function runs on
  every switch);
- (e) a reference: ``greenlet.settrace(operator.is_)``, a C builtin that
  accepts the trace function's two arguments, allocates nothing and does
  nothing useful: what greenlet's trace-call machinery costs by itself,
  about the floor of any hook installed with greenlet.settrace.

A child measures its workload --reps times and keeps the fastest (the run
least disturbed by other work on the machine).  Children run a b c d e a b c
d e ..., one round after the other; each row gives the median over the
rounds and the interquartile range, and the added cost is the median of
the per-round differences to (a) of the same round (paired, so slow drift
of the machine cancels), with its interquartile range: a difference whose
range straddles 0 is not measurable here.

Part B: detection latency after the threshold
---------------------------------------------
A child watched at a threshold of 0.1 s (stackwatch's monitor, or gevent's
monitor thread) runs, in a greenlet, stalls of about 0.3 s: ``python``, a
pure-Python busy loop (``while time.monotonic() < end: pass``), or
``gil``, one ``sum(range(N))`` call (N calibrated to ~0.3 s) during which
the GIL is never released.  Just before each stall the child writes
``time.monotonic()`` to its stdout (unbuffered), and after it the time it
ended; between stalls the hub runs (``gevent.sleep(0.2)``).  The parent
reads the child's stdout and stderr in two threads of its own and stamps
the arrival of every chunk with ``time.monotonic()`` (CLOCK_MONOTONIC,
shared by all processes of the machine).  A stall's latency is the arrival
of the first report line after its start (stackwatch: ``[stackwatch ...]
gevent hub blocked for``; gevent: ``... appears to be blocked``) minus
(start + 0.1).  A stall without a report before the next stall starts is
counted as missed; a report that falls before start + 0.1 (or between
stalls) as early/false.  Children of the four (kind, monitor) pairs
alternate, --stalls stalls each, over several rounds.

Part C: the monitor's idle CPU
------------------------------
A child starts the monitor, lets its program idle for --idle-seconds and
reports the monitor thread's own CPU time (``stats()["cpu_seconds"]``,
its thread CPU clock) and the whole process's (``time.process_time()``,
CLOCK_PROCESS_CPUTIME_ID: user + system of every thread, to the
nanosecond, where ``os.times()`` counts 10 ms ticks) over that window,
as a percentage of one core:

- ``memory``: ``start(max_blocking_time=None, max_memory_usage="10GiB",
  memory_monitor_period=5)``; the program does ``time.sleep``;
- ``gevent hub``: ``start(max_blocking_time=0.1)``; ``gevent.sleep``;
- ``asyncio loop``: ``start(max_blocking_time=0.1, asyncio=True)``;
  ``asyncio.run(asyncio.sleep(...))``: the loop runs a heartbeat callback
  every threshold/20 (5 ms), which is process CPU, not the monitor's;

and, for comparison, the idle hub under gevent's monitor thread
(``GEVENT_MONITOR_THREAD_ENABLE=1``, 0.1 s), and the same idle programs
without any monitor.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common import git_commit

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PYTHON = sys.executable
THIS = os.path.abspath(__file__)

THRESHOLD = 0.1
STALL = 0.3       #: seconds a stall lasts
BETWEEN = 0.2     #: seconds the hub runs between stalls
#: Goal of the issue for stackwatch: median and p99 latency at most this.
LATENCY_GOAL = 0.010

SWITCH_CONFIGS = (
    ("a", "nothing"),
    ("b", "stackwatch tracking only"),
    ("c", "stackwatch monitor (threshold 0.1 s)"),
    ("d", "gevent monitor thread (0.1 s)"),
    ("e", "reference: greenlet.settrace(operator.is_)"),
)
SWITCH_WORKLOADS = ("raw", "gevent")
STALL_KINDS = (("python", "pure-Python busy loop"),
               ("gil", "GIL-held C call (sum(range(N)))"))
MONITORS = ("stackwatch", "gevent")
IDLE_CONFIGS = (
    ("memory", "memory only (max_blocking_time=None, 10GiB, period 5 s)"),
    ("hub", "one idle gevent hub, threshold 0.1 s"),
    ("asyncio", "one asyncio loop, threshold 0.1 s (asyncio=True)"),
    ("hub-gevent", "gevent's monitor thread (0.1 s), gevent.sleep"),
    ("hub-base", "gevent.sleep, no monitor"),
    ("asyncio-base", "asyncio.sleep, no monitor"),
)
STACKWATCH_REPORT = re.compile(r"^\[stackwatch [^\]]*\] gevent hub blocked "
                               r"for ")
GEVENT_REPORT = re.compile(r"appears to be blocked")


def gevent_env(on: bool) -> Dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
    for k in ("GEVENT_MONITOR_THREAD_ENABLE", "GEVENT_MAX_BLOCKING_TIME",
              "STACKWATCH_MONITOR", "STACKWATCH_DUMP"):
        env.pop(k, None)
    if on:
        env["GEVENT_MONITOR_THREAD_ENABLE"] = "1"
        env["GEVENT_MAX_BLOCKING_TIME"] = str(THRESHOLD)
    return env


# == the children ============================================================

def child_switch(config: str, workload: str, n: int, reps: int) -> dict:
    """Part A in a child: the fastest of `reps` runs of `n` switches (raw)
    or `n` gevent.sleep(0) calls (gevent), in ns per unit."""
    out: Dict[str, Any] = {}
    if config == "b":
        from stackwatch import _greenlets
        out["tracking"] = _greenlets.start_tracking()
    elif config == "c":
        import stackwatch.monitor as mon
        mon.start(max_blocking_time=THRESHOLD)
    import gevent
    import greenlet
    if config == "e":
        # operator.is_(event, args): a C builtin taking any two objects,
        # allocating nothing: about the floor of any settrace hook.
        import operator
        greenlet.settrace(operator.is_)
    gevent.sleep(0)  # the hub runs: watched (c), monitor thread (d)
    hub = gevent.get_hub()
    if config == "d":
        out["gevent_monitor"] = hub.periodic_monitoring_thread is not None

    def raw() -> float:
        half = n // 2

        def pong() -> None:
            sw = ping_g.switch
            while True:
                sw()

        def ping() -> None:
            sw = pong_g.switch
            for _ in range(half):
                sw()

        pong_g = greenlet.greenlet(pong)
        ping_g = greenlet.greenlet(ping)
        c0 = time.thread_time()
        t0 = time.perf_counter()
        ping_g.switch()
        t = time.perf_counter() - t0
        offcpu.append(t - (time.thread_time() - c0))
        pong_g.throw(greenlet.GreenletExit)
        return t / (2 * half)

    def gev() -> float:
        per = n // 4
        sleep = gevent.sleep

        def worker() -> None:
            for _ in range(per):
                sleep(0)

        gs = [gevent.spawn(worker) for _ in range(4)]
        c0 = time.thread_time()
        t0 = time.perf_counter()
        gevent.joinall(gs)
        t = time.perf_counter() - t0
        offcpu.append(t - (time.thread_time() - c0))
        return t / (4 * per)

    offcpu: List[float] = []
    fn = raw if workload == "raw" else gev
    fn()  # warm-up
    times = [fn() for _ in range(reps)]
    out["ns"] = [1e9 * t for t in times]
    # wall - thread CPU of each run (warm-up included): time the thread
    # was runnable or preempted, not running
    out["offcpu"] = offcpu
    if config == "c":
        import stackwatch.monitor as mon
        st = mon.stats()
        out["watches"], out["reports"] = st["watches"], st["reports"]
        mon.stop()
    return out


def child_count_switches(n: int) -> dict:
    """Greenlet switches per gevent.sleep(0) in the `gevent` workload,
    counted with a trace function (this run is not timed)."""
    import gevent
    import greenlet
    gevent.sleep(0)
    count = [0]

    def trace(event: str, args: Any) -> None:
        if event in ("switch", "throw"):
            count[0] += 1

    per = n // 4

    def worker() -> None:
        for _ in range(per):
            gevent.sleep(0)

    gs = [gevent.spawn(worker) for _ in range(4)]
    greenlet.settrace(trace)
    gevent.joinall(gs)
    greenlet.settrace(None)
    return {"switches_per_sleep0": count[0] / (4 * per)}


def child_stall(monitor: str, kind: str, count: int, n_sum: int) -> None:
    """Part B in a child: `count` stalls, their start and end times on
    stdout ("start T", "end T"), reports on stderr."""
    if monitor == "stackwatch":
        import stackwatch.monitor as mon
        mon.start(max_blocking_time=THRESHOLD)
    import gevent

    def say(line: str) -> None:
        os.write(1, (line + "\n").encode())

    def staller() -> None:
        gevent.sleep(0.5)  # both monitors are running by now
        for _ in range(count):
            c0 = time.thread_time()
            t0 = time.monotonic()
            say("start %.6f" % t0)
            if kind == "python":
                end = t0 + STALL
                while time.monotonic() < end:
                    pass
            else:
                sum(range(n_sum))
            t1 = time.monotonic()
            say("end %.6f %.6f" % (t1, time.thread_time() - c0))
            gevent.sleep(BETWEEN)

    gevent.spawn(staller).join()
    gevent.sleep(0.3)  # a late report still arrives
    if monitor == "stackwatch":
        import stackwatch.monitor as mon
        say("stats " + json.dumps(mon.stats()))
        mon.stop()


def child_idle(config: str, seconds: float) -> dict:
    """Part C in a child: CPU of the monitor thread and of the process
    over `seconds` of idling."""
    mon: Any = None
    if config in ("memory", "hub", "asyncio"):
        import stackwatch.monitor as mon
        if config == "memory":
            mon.start(max_blocking_time=None, max_memory_usage="10GiB",
                      memory_monitor_period=5)
        else:
            mon.start(max_blocking_time=THRESHOLD,
                      asyncio=config == "asyncio")

    def snap() -> Tuple[float, float, Optional[dict]]:
        # process_time: CLOCK_PROCESS_CPUTIME_ID, user + system of every
        # thread, in ns (os.times() counts 10 ms ticks)
        return (time.monotonic(), time.process_time(),
                mon.stats() if mon is not None else None)

    res: Dict[str, Any] = {}

    def record(a: tuple, b: tuple) -> None:
        res["wall"] = b[0] - a[0]
        res["process_cpu"] = b[1] - a[1]
        if a[2] is not None:
            res["monitor_cpu"] = b[2]["cpu_seconds"] - a[2]["cpu_seconds"]
            res["polls"] = b[2]["polls"] - a[2]["polls"]
            res["watches"] = b[2]["watches"]
            res["reports"] = b[2]["reports"]

    if config == "memory":
        time.sleep(0.2)
        a = snap()
        time.sleep(seconds)
        record(a, snap())
    elif config.startswith("hub"):
        import gevent
        gevent.sleep(0.2)
        a = snap()
        gevent.sleep(seconds)
        record(a, snap())
    else:
        import asyncio

        async def main() -> None:
            await asyncio.sleep(0.2)
            a = snap()
            await asyncio.sleep(seconds)
            record(a, snap())

        asyncio.run(main())
    if mon is not None:
        mon.stop()
    return res


def child_main(argv: List[str]) -> int:
    what = argv[0]
    if what == "switch":
        res = child_switch(argv[1], argv[2], int(argv[3]), int(argv[4]))
    elif what == "count":
        res = child_count_switches(int(argv[1]))
    elif what == "stall":
        child_stall(argv[1], argv[2], int(argv[3]), int(argv[4]))
        return 0
    elif what == "idle":
        res = child_idle(argv[1], float(argv[2]))
    elif what == "calibrate":
        n = 3_000_000
        per = []
        for _ in range(7):
            t0 = time.perf_counter()
            sum(range(n))
            per.append((time.perf_counter() - t0) / n)
        res = {"seconds_per_item": statistics.median(per)}
    else:
        raise SystemExit("unknown child %r" % what)
    sys.stdout.write(json.dumps(res) + "\n")
    return 0


# == running children ========================================================

def progress(message: str) -> None:
    sys.stderr.write("[bench monitor] %s\n" % message)
    sys.stderr.flush()


def run_child(args: List[str], gevent_monitor: bool = False,
              timeout: float = 300) -> dict:
    """Runs a JSON-printing child; {"error": why} if it fails."""
    proc = subprocess.run([PYTHON, THIS, "--child"] + args, cwd=ROOT,
                          env=gevent_env(gevent_monitor),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [
            "exit status %d" % proc.returncode]
        return {"error": tail[0]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    err = expected_noise(proc.stderr)
    if err.strip():
        res["stderr"] = err[-2000:]
    return res


def expected_noise(text: str) -> str:
    """text without gevent's warning that psutil is missing (its monitor
    thread prints it once; it does not watch memory then)."""
    return re.sub(r".*MonitorWarning: Unable to monitor memory usage.*\n"
                  r"(\s+warnings.warn\(.*\n)?", "", text)


def quartiles(values: List[float]) -> Tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def percentile(values: List[float], p: float) -> float:
    """The p-th percentile (0-100), linear between closest ranks."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# -- part A -----------------------------------------------------------------

def run_switch(rounds: int, n_raw: int, n_gevent: int, reps: int,
               log: Dict[str, Any]) -> None:
    log["rounds"] = rounds
    log["n"] = {"raw": n_raw, "gevent": n_gevent}
    log["reps"] = reps
    log["switches_per_sleep0"] = run_child(
        ["count", str(n_gevent)]).get("switches_per_sleep0")
    runs: List[dict] = []
    log["runs"] = runs
    t_start = time.monotonic()
    for rnd in range(rounds):
        for wl in SWITCH_WORKLOADS:
            n = n_raw if wl == "raw" else n_gevent
            for cfg, _ in SWITCH_CONFIGS:
                res = run_child(["switch", cfg, wl, str(n), str(reps)],
                                gevent_monitor=cfg == "d")
                res.update(round=rnd, workload=wl, config=cfg)
                if "ns" in res:
                    res["best"] = min(res["ns"])
                runs.append(res)
        el = time.monotonic() - t_start
        progress("switch cost: round %d/%d (%.0f s elapsed, ~%.0f s left)"
                 % (rnd + 1, rounds, el, el / (rnd + 1) * (rounds - rnd - 1)))


def switch_table(log: Dict[str, Any]) -> str:
    runs = log["runs"]
    sps = log.get("switches_per_sleep0") or float("nan")
    lines = ["| workload | configuration | ns per unit, median (IQR) | "
             "ns/switch | added ns/switch vs (a), median of paired "
             "differences (IQR) | runs |",
             "|---|---|---|---|---|---|"]
    notes: List[str] = []
    verdicts: List[str] = []
    for wl in SWITCH_WORKLOADS:
        per_switch = 1.0 if wl == "raw" else sps
        unit = "switch" if wl == "raw" else "sleep(0)"
        by: Dict[str, Dict[int, float]] = {}
        for r in runs:
            if r["workload"] != wl:
                continue
            if "best" in r:
                by.setdefault(r["config"], {})[r["round"]] = r["best"]
            else:
                notes.append("%s (%s), round %d: %s" % (
                    wl, r["config"], r["round"] + 1, r.get("error")))
            if r.get("stderr"):
                notes.append("%s (%s), round %d printed on stderr: %s" % (
                    wl, r["config"], r["round"] + 1,
                    r["stderr"].strip().splitlines()[0][:200]))
            if r["config"] == "c" and "watches" in r and (
                    r["watches"] != 1 or r["reports"] != 0):
                notes.append("%s (c), round %d: %d watches, %d reports "
                             "(expected 1 and 0); the switching thread was "
                             "off the CPU for up to %.3f s in a run of "
                             "this child (wall − thread CPU)" % (
                                 wl, r["round"] + 1, r["watches"],
                                 r["reports"], max(r.get("offcpu") or [0])))
            if r["config"] == "d" and r.get("gevent_monitor") is False:
                notes.append("%s (d), round %d: gevent's monitor thread "
                             "did not start" % (wl, r["round"] + 1))
        base = by.get("a", {})
        for cfg, label in SWITCH_CONFIGS:
            vals = by.get(cfg, {})
            if not vals:
                lines.append("| %s | (%s) %s | failed | – | – | 0 |"
                             % (wl, cfg, label))
                continue
            q1, med, q3 = quartiles(list(vals.values()))
            if cfg == "a":
                added = "–"
            else:
                d = {k: (v - base[k]) / per_switch for k, v in vals.items()
                     if k in base}
                dq1, dmed, dq3 = quartiles(list(d.values()))
                added = "%+.1f (%+.1f to %+.1f)" % (dmed, dq1, dq3)
            lines.append("| %s (per %s) | (%s) %s | %.1f (%.1f–%.1f) | %.1f "
                         "| %s | %d |" % (wl, unit, cfg, label, med, q1, q3,
                                          med / per_switch, added,
                                          len(vals)))
        c = by.get("c", {})
        b = by.get("b", {})
        cb = [(c[k] - b[k]) / per_switch for k in c if k in b]
        if cb:
            q1, med, q3 = quartiles(cb)
            if q1 > 0:
                what = "**measurable** (the range is above 0)"
            elif q3 < 0:
                what = ("no added cost (the range is below 0: (c) ran "
                        "faster, noise or drift)")
            else:
                what = "not measurable (the range straddles 0)"
            verdicts.append(
                "- %s: (c) − (b), the stall detection's own cost per switch: "
                "median %+.1f ns (IQR %+.1f to %+.1f) over %d paired rounds: "
                "%s" % (wl, med, q1, q3, len(cb), what))
    starved = [r for r in runs if max(r.get("offcpu") or [0]) > 0.05]
    if starved:
        notes.append("%d of %d children had a run in which the switching "
                     "thread was off the CPU (wall − thread CPU) for more "
                     "than 50 ms (worst %.3f s): the machine's other work"
                     % (len(starved), len(runs),
                        max(max(r["offcpu"]) for r in starved)))
    out = ["### Cost per greenlet switch", "",
           "%d rounds of a b c d child processes per workload; each child "
           "keeps the fastest of %d runs of %s switches (raw) or %s "
           "gevent.sleep(0) calls (gevent, 4 greenlets). One gevent.sleep(0) "
           "made %.2f greenlet switches (counted with a trace function), "
           "by which ns/switch divides. IQR: interquartile range over the "
           "rounds." % (log["rounds"], log["reps"], "{:,}".format(
               log["n"]["raw"]), "{:,}".format(log["n"]["gevent"]), sps),
           ""] + lines + [""] + verdicts
    if notes:
        out += ["", "Notes:", ""] + ["- " + n for n in notes]
    return "\n".join(out) + "\n"


# -- part B -----------------------------------------------------------------

class Reader(threading.Thread):
    """Reads a pipe as data arrives, stamping every complete line with the
    time.monotonic() of the chunk that completed it."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.lines: List[Tuple[float, str]] = []

    def run(self) -> None:
        buf = b""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            now = time.monotonic()
            if not data:
                break
            buf += data
            *done, buf = buf.split(b"\n")
            for ln in done:
                self.lines.append((now, ln.decode("utf-8", "replace")))
        if buf:
            self.lines.append((time.monotonic(),
                               buf.decode("utf-8", "replace")))


def stall_child(monitor: str, kind: str, count: int, n_sum: int) -> dict:
    """Runs one stall child; returns its stalls with their latencies."""
    proc = subprocess.Popen([PYTHON, THIS, "--child", "stall", monitor, kind,
                             str(count), str(n_sum)], cwd=ROOT,
                            env=gevent_env(monitor == "gevent"),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Reader(proc.stdout.fileno()), Reader(proc.stderr.fileno())
    out.start()
    err.start()
    try:
        status = proc.wait(timeout=60 + count * (STALL + BETWEEN) * 3)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    out.join(10)
    err.join(10)
    proc.stdout.close()
    proc.stderr.close()
    starts: List[float] = []
    ends: List[float] = []
    cpus: List[float] = []
    stats = None
    for _, ln in out.lines:
        if ln.startswith("start "):
            starts.append(float(ln.split()[1]))
        elif ln.startswith("end "):
            ends.append(float(ln.split()[1]))
            cpus.append(float(ln.split()[2]))
        elif ln.startswith("stats "):
            stats = json.loads(ln[6:])
    pattern = STACKWATCH_REPORT if monitor == "stackwatch" else GEVENT_REPORT
    reports = [t for t, ln in err.lines if pattern.search(ln)]
    holds_gil = [ln.strip() for _, ln in err.lines
                 if "hold the GIL" in ln or "holds the GIL" in ln]
    unblocked = [ln for _, ln in err.lines if ln.startswith("[stackwatch")
                 and " gevent hub unblocked after " in ln]
    other = [ln for _, ln in err.lines
             if ln.startswith("[stackwatch") and not
             STACKWATCH_REPORT.search(ln) and ln not in unblocked]
    errors = [ln for _, ln in err.lines if ln.startswith("Traceback")]
    stalls = []
    used = set()
    for i, s in enumerate(starts):
        nxt = starts[i + 1] if i + 1 < len(starts) else float("inf")
        mine = [j for j, t in enumerate(reports) if s <= t < nxt]
        used.update(mine)
        first = reports[mine[0]] if mine else None
        stalls.append({
            "start": s, "end": ends[i] if i < len(ends) else None,
            "cpu": cpus[i] if i < len(cpus) else None,
            "latency": first - (s + THRESHOLD) if first is not None else None,
            "reports": len(mine)})
    stray = [reports[j] for j in range(len(reports)) if j not in used]
    return {"monitor": monitor, "kind": kind, "status": status,
            "stalls": stalls, "stray_reports": len(stray),
            "other_lines": other[:5], "unblocked_lines": len(unblocked), "holds_gil": holds_gil[:3],
            "errors": errors[:3], "stats": stats,
            "stderr_tail": [ln for _, ln in err.lines][-3:]
            if status != 0 else []}


def run_stalls(rounds: int, per_child: int, log: Dict[str, Any]) -> None:
    cal = run_child(["calibrate"])
    n_sum = int(STALL / cal["seconds_per_item"])
    log["n_sum"] = n_sum
    log["rounds"] = rounds
    log["per_child"] = per_child
    children: List[dict] = []
    log["children"] = children
    t_start = time.monotonic()
    for rnd in range(rounds):
        for kind, _ in STALL_KINDS:
            for monitor in MONITORS:
                res = stall_child(monitor, kind, per_child, n_sum)
                res["round"] = rnd
                children.append(res)
        el = time.monotonic() - t_start
        progress("detection latency: round %d/%d (%.0f s elapsed, ~%.0f s "
                 "left)" % (rnd + 1, rounds, el,
                            el / (rnd + 1) * (rounds - rnd - 1)))


def stall_table(log: Dict[str, Any]) -> str:
    lines = ["| stall | monitor | stalls | reported | missed | median "
             "latency, ms | p99, ms | max, ms | stall length, s (median) |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes: List[str] = []
    verdicts: List[str] = []
    for kind, label in STALL_KINDS:
        for monitor in MONITORS:
            ch = [c for c in log["children"] if c["kind"] == kind
                  and c["monitor"] == monitor]
            stalls = [s for c in ch for s in c["stalls"]]
            lat = [s["latency"] for s in stalls if s["latency"] is not None]
            early = [x for x in lat if x < 0]
            missed = sum(1 for s in stalls if s["latency"] is None)
            multi = sum(1 for s in stalls if s["reports"] > 1)
            stray = sum(c["stray_reports"] for c in ch)
            lengths = [s["end"] - s["start"] for s in stalls
                       if s["end"] is not None]
            name = "**stackwatch**" if monitor == "stackwatch" else (
                "gevent monitor")
            if lat:
                lines.append("| %s | %s | %d | %d | %d | %.1f | %.1f | %.1f "
                             "| %.3f |" % (
                                 label, name, len(stalls), len(lat), missed,
                                 1e3 * statistics.median(lat),
                                 1e3 * percentile(lat, 99), 1e3 * max(lat),
                                 statistics.median(lengths)
                                 if lengths else float("nan")))
            else:
                lines.append("| %s | %s | %d | 0 | %d | – | – | – | %s |" % (
                    label, name, len(stalls), missed,
                    "%.3f" % statistics.median(lengths) if lengths else "?"))
            for c in ch:
                if c["status"] != 0 or c["errors"]:
                    notes.append("%s/%s round %d: exit status %s %s" % (
                        kind, monitor, c["round"] + 1, c["status"],
                        " ".join(c["errors"] + c["stderr_tail"])[:300]))
                for ln in c["other_lines"]:
                    notes.append("%s/%s round %d, other report line: %s" % (
                        kind, monitor, c["round"] + 1, ln[:200]))
            if early:
                notes.append("%s/%s: %d report(s) before the threshold "
                             "(false or early)" % (kind, monitor, len(early)))
            if multi:
                notes.append("%s/%s: %d stall(s) reported more than once%s"
                             % (kind, monitor, multi,
                                " (gevent reports at every check that "
                                "finds the hub still blocked)"
                                if monitor == "gevent" else ""))
            unb = sum(c.get("unblocked_lines", 0) for c in ch)
            if monitor == "stackwatch":
                notes.append("%s/stackwatch: %d \"gevent hub unblocked after\" "
                             "line(s) for %d stall(s)" % (kind, unb,
                                                          len(stalls)))
            if stray:
                notes.append("%s/%s: %d report(s) outside any stall"
                             % (kind, monitor, stray))
            gil = sorted(set(g for c in ch for g in c["holds_gil"]))
            if monitor == "stackwatch" and gil:
                notes.append("%s/stackwatch: reports say %s" % (
                    kind, " / ".join(repr(g) for g in gil)))
            if monitor == "stackwatch":
                late = [s for s in stalls if s["latency"] is not None
                        and s["latency"] > LATENCY_GOAL]
                if late:
                    notes.append(
                        "%s/stackwatch: %d of %d latencies above %d ms (%s "
                        "ms); in those stalls the stalled thread was off "
                        "the CPU (stall wall − thread CPU) for %s ms" % (
                            kind, len(late), len(lat), 1e3 * LATENCY_GOAL,
                            ", ".join("%.0f" % (1e3 * s["latency"])
                                      for s in late),
                            ", ".join("%.0f" % (1e3 * (s["end"] - s["start"]
                                                       - s["cpu"]))
                                      if s.get("cpu") is not None
                                      and s["end"] is not None else "?"
                                      for s in late)))
                ok = lat and not missed and max(
                    statistics.median(lat), percentile(lat, 99)
                ) <= LATENCY_GOAL
                verdicts.append(
                    "- stackwatch, %s: goal ≤ %d ms median and p99, every "
                    "stall reported: %s" % (
                        label, 1e3 * LATENCY_GOAL,
                        "**met**" if ok else "**missed**"))
    out = ["### Detection latency after the threshold (0.1 s)", "",
           "%d rounds; each round runs one child per row with %d stalls of "
           "~%.1f s (the GIL-held one: sum(range(%s))), %.1f s of hub "
           "between them. Latency: arrival of the report's first line at "
           "the parent − (stall start + 0.1 s); p99 by linear "
           "interpolation. Missed: no report before the next stall "
           "started." % (log["rounds"], log["per_child"], STALL,
                         "{:,}".format(log["n_sum"]), BETWEEN),
           ""] + lines + [""] + verdicts
    if notes:
        out += ["", "Notes:", ""] + ["- " + n for n in notes]
    return "\n".join(out) + "\n"


# -- part C -----------------------------------------------------------------

def run_idle(seconds: float, repeats: int, log: Dict[str, Any]) -> None:
    log["seconds"] = seconds
    log["repeats"] = repeats
    runs: List[dict] = []
    log["runs"] = runs
    for rep in range(repeats):
        for cfg, _ in IDLE_CONFIGS:
            res = run_child(["idle", cfg, str(seconds)],
                            gevent_monitor=cfg == "hub-gevent",
                            timeout=seconds * 3 + 60)
            res.update(config=cfg, repeat=rep)
            runs.append(res)
        progress("idle CPU: repeat %d/%d" % (rep + 1, repeats))


def idle_table(log: Dict[str, Any]) -> str:
    lines = ["| monitor watching | monitor thread CPU, % of a core | polls/s "
             "| process CPU, % of a core | runs |",
             "|---|---|---|---|---|"]
    notes: List[str] = []
    for cfg, label in IDLE_CONFIGS:
        rs = [r for r in log["runs"] if r["config"] == cfg]
        ok = [r for r in rs if "wall" in r]
        for r in rs:
            if "error" in r:
                notes.append("%s, repeat %d: %s" % (cfg, r["repeat"] + 1,
                                                    r["error"]))
            elif r.get("stderr"):
                notes.append("%s, repeat %d printed: %s" % (
                    cfg, r["repeat"] + 1, r["stderr"].strip()[:200]))
            if r.get("reports"):
                notes.append("%s, repeat %d: %d report(s) while idle" % (
                    cfg, r["repeat"] + 1, r["reports"]))
        if not ok:
            lines.append("| %s | failed | – | – | 0 |" % label)
            continue

        def cell(key: str) -> str:
            v = [100 * r[key] / r["wall"] for r in ok if key in r]
            if not v:
                return "–"
            return "%.3f (%.3f–%.3f)" % (statistics.median(v), min(v),
                                         max(v))

        polls = [r["polls"] / r["wall"] for r in ok if "polls" in r]
        lines.append("| %s | %s | %s | %s | %d |" % (
            label, cell("monitor_cpu"),
            "%.0f" % statistics.median(polls) if polls else "–",
            cell("process_cpu"), len(ok)))
    out = ["### The monitor's CPU while the program idles", "",
           "%g-second windows, %d per row; median (min–max). Monitor "
           "thread: stats()[\"cpu_seconds\"] (its thread CPU clock); "
           "process: time.process_time() (user + system of every thread)." % (
               log["seconds"], log["repeats"]), ""] + lines
    if notes:
        out += ["", "Notes:", ""] + ["- " + n for n in notes]
    return "\n".join(out) + "\n"


# == the whole run ===========================================================

def environment() -> dict:
    code = ("import gevent, greenlet, os, stackwatch._native as n; "
            "print(gevent.__version__, greenlet.__version__, n.__file__, "
            "int(os.path.getmtime(n.__file__)))")
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0:
        raise SystemExit("bench/monitor.py: cannot import gevent, greenlet "
                         "and stackwatch: %s" % (
                             proc.stderr.strip().splitlines() or ["?"])[-1])
    gv, glv, native, mtime = proc.stdout.split()
    commit = git_commit(ROOT)
    return {"gevent": gv, "greenlet": glv, "native": native,
            "native_mtime": int(mtime), "commit": commit,
            "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "loadavg_at_start": os.getloadavg()}


def render(report: dict) -> str:
    e = report["env"]
    blocks = ["## Watchdog benchmarks (bench/monitor.py)",
              "CPython %s, gevent %s, greenlet %s, %s CPUs; work tree at "
              "commit %s; load average %.2f at start, %.2f at the end; the "
              "run took %.1f minutes%s." % (
                  e["python"], e["gevent"], e["greenlet"], e["cpus"],
                  e["commit"], e["loadavg_at_start"][0],
                  e.get("loadavg_at_end", [float("nan")])[0],
                  report.get("minutes", float("nan")),
                  " (--quick)" if report.get("quick") else "")]
    if report.get("switch"):
        blocks.append(switch_table(report["switch"]))
    if report.get("stalls"):
        blocks.append(stall_table(report["stalls"]))
    if report.get("idle"):
        blocks.append(idle_table(report["idle"]))
    return "\n\n".join(b.strip("\n") for b in blocks) + "\n"


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/monitor.py",
        description="Watchdog benchmarks: stackwatch's and gevent's "
                    "monitors: cost per greenlet switch, detection latency "
                    "of stalls, idle CPU of the monitor thread.")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 3 rounds of switches, 1 round of 10 "
                        "stalls, 2-second idle windows (~1.5 min)")
    p.add_argument("--rounds", type=int, default=11,
                   help="a b c d rounds of the switch cost (default 11)")
    p.add_argument("--stall-rounds", type=int, default=6,
                   help="rounds of stall children (default 6)")
    p.add_argument("--stalls", type=int, default=10,
                   help="stalls per child (default 10)")
    p.add_argument("--idle-seconds", type=float, default=10.0,
                   help="length of an idle-CPU window (default 10)")
    p.add_argument("--idle-repeats", type=int, default=3,
                   help="idle-CPU windows per configuration (default 3)")
    p.add_argument("--reps", type=int, default=5,
                   help="runs per switch child, the fastest kept (default 5)")
    p.add_argument("--only", choices=("switch", "latency", "idle"),
                   help="run one part only")
    p.add_argument("--json", metavar="PATH",
                   help="save the raw measurements and the Markdown there")
    p.add_argument("--report", metavar="JSON",
                   help="print the tables of a saved run again")
    ns = p.parse_args(argv)
    if ns.quick:
        ns.rounds, ns.stall_rounds, ns.stalls = 3, 1, 10
        ns.idle_seconds, ns.idle_repeats, ns.reps = 2.0, 1, 3
    if min(ns.rounds, ns.stall_rounds, ns.stalls, ns.idle_repeats,
           ns.reps) < 1 or ns.idle_seconds <= 0:
        p.error("counts and --idle-seconds must be positive")
    return ns


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--child"]:
        return child_main(args[1:])
    ns = parse_args(args)
    if ns.report:
        with open(ns.report) as f:
            sys.stdout.write(render(json.load(f)))
        return 0
    t0 = time.monotonic()
    report: Dict[str, Any] = {"env": environment(), "quick": ns.quick,
                              "argv": args}
    if ns.only in (None, "switch"):
        report["switch"] = {}
        run_switch(ns.rounds, 2_000_000, 400_000, ns.reps, report["switch"])
    if ns.only in (None, "latency"):
        report["stalls"] = {}
        run_stalls(ns.stall_rounds, ns.stalls, report["stalls"])
    if ns.only in (None, "idle"):
        report["idle"] = {}
        run_idle(ns.idle_seconds, ns.idle_repeats, report["idle"])
    report["env"]["loadavg_at_end"] = os.getloadavg()
    report["minutes"] = (time.monotonic() - t0) / 60
    end_env = environment()
    if end_env["native_mtime"] != report["env"]["native_mtime"]:
        progress("warning: stackwatch was reinstalled during the run")
        report["reinstalled"] = True
    text = render(report)
    report["markdown"] = text
    if ns.json:
        os.makedirs(os.path.dirname(os.path.abspath(ns.json)), exist_ok=True)
        with open(ns.json, "w") as f:
            json.dump(report, f, indent=1)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
