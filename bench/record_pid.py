"""`stackwatch record --pid` and `top`: what they cost the running program.

A long-running target (bench/record_pid_target.py: a pure-Python loop in
the main thread, two idle threads) reports its cumulative loop count every
100 ms; its throughput is measured over the same window (--seconds, after
a warm-up) in each configuration, one fresh target per measurement:

- plain: python, stackwatch not imported (the baseline);
- idle: STACKWATCH_DUMP=1 (enabled, nobody asking): the cost of being
  reachable, expected zero (no thread runs: the dump thread waits on a
  pipe, the service thread in a blocking read). Beside the ratio, the
  proof: the CPU time the kernel counted for every thread but the main
  one during the window, plain and enabled (the target's own threads are
  blocked too, so both should be 0);
- record R: the target started under `stackwatch record -r R`;
- record --pid R: `stackwatch record --pid -r R -d SECONDS` during the
  window (the target samples itself on its on-demand sampler);
- py-spy R: `py-spy record --pid -r R -d SECONDS --nonblocking` (needs
  ptrace rights), when installed;
- austin R: `austin -p PID -i 1e6/R -x SECONDS`, when installed;
- top: `stackwatch top -d SECONDS PID` to /dev/null, with top's own CPU
  time (user + system, from the kernel) per second.

Configurations alternate within each round (shuffled from --seed) and each
cell is the median of the rounds' throughput ratios to plain (1.000: no
cost), with min-max. The machine is shared while this runs: the numbers
are provisional. It is a benchmark, not a test: it prints a Markdown
table and exits 0 whatever the numbers.
"""

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "record_pid_target.py")
PY = sys.executable


def tool(name):
    found = shutil.which(name) or os.path.join(os.path.dirname(PY), name)
    return found if os.path.exists(found) else None


def start(config, env_extra, rate):
    env = dict(os.environ, **env_extra)
    for k in ("STACKWATCH_DUMP", "STACKWATCH_MONITOR"):
        if k not in env_extra:
            env.pop(k, None)
    if config == "record":
        cmd = [PY, "-m", "stackwatch", "record", "-r", str(rate), "-f",
               "collapsed", "-o", os.devnull, TARGET]
    else:
        cmd = [PY, TARGET]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline()
    assert line.strip() == "ready", line
    return p


def throughput(p, t0, t1):
    """Loops per second between the reports nearest t0 and t1."""
    points = []
    while True:
        line = p.stdout.readline()
        if not line:
            break
        t, n = line.split()
        points.append((float(t), int(n)))
        if float(t) >= t1:
            break
    a = min(points, key=lambda x: abs(x[0] - t0))
    b = min(points, key=lambda x: abs(x[0] - t1))
    return (b[1] - a[1]) / (b[0] - a[0])


def other_threads_cpu(pid):
    """CPU seconds (user + system) of every thread of pid but the main one
    (the target's own idle threads, and stackwatch's dump and service
    threads when enabled)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        if int(tid) == pid:
            continue
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid), "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(config, rate, seconds, warmup):
    env = {"STACKWATCH_DUMP": "1"} if config in (
        "idle", "record --pid", "top") else {}
    p = start("record" if config == "record" else "plain", env, rate)
    extra = None
    top_cpu = None
    try:
        time.sleep(warmup)
        t0 = time.monotonic()
        others0 = other_threads_cpu(p.pid)
        tmp = tempfile.mkdtemp()
        if config == "record --pid":
            extra = subprocess.Popen(
                [PY, "-m", "stackwatch", "record", "--pid", str(p.pid), "-r",
                 str(rate), "-d", str(seconds), "-f", "collapsed", "-o",
                 os.path.join(tmp, "p.txt")], stderr=subprocess.DEVNULL)
        elif config == "py-spy":
            extra = subprocess.Popen(
                [tool("py-spy"), "record", "--pid", str(p.pid), "-r",
                 str(rate), "-d", str(int(round(seconds))), "--nonblocking",
                 "-f", "raw", "-o", os.path.join(tmp, "p.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif config == "austin":
            extra = subprocess.Popen(
                [tool("austin"), "-p", str(p.pid), "-i",
                 str(int(1e6 / rate)), "-x", str(seconds), "-o",
                 os.path.join(tmp, "p.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif config == "top":
            cpu0 = children_cpu()
            extra = subprocess.Popen(
                [PY, "-m", "stackwatch", "top", "-r", str(rate), "-d",
                 str(seconds), str(p.pid)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        t1 = t0 + seconds
        ratio = throughput(p, t0, t1)
        if config in ("plain", "idle"):
            top_cpu = other_threads_cpu(p.pid) - others0
        if extra is not None:
            extra.wait(60)
            if config == "top":
                top_cpu = (children_cpu() - cpu0) / seconds
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        p.stdin.close()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return ratio, top_cpu  # top_cpu: plain/idle: the other threads' CPU


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--quick", action="store_true",
                    help="1 round of 2 s")
    ns = ap.parse_args()
    if ns.quick:
        ns.rounds, ns.seconds = 1, 2.0
    configs = [("idle", 0)]
    for rate in (100, 1000):
        configs += [("record", rate), ("record --pid", rate)]
        if tool("py-spy"):
            configs.append(("py-spy", rate))
        if tool("austin"):
            configs.append(("austin", rate))
    configs.append(("top", 100))
    rng = random.Random(ns.seed)
    ratios = {c: [] for c in configs}
    top_cpu = []
    idle_cpu = {"plain": [], "idle": []}
    for rnd in range(ns.rounds):
        order = list(configs)
        rng.shuffle(order)
        for c in order:
            base, other = measure("plain", 100, ns.seconds, ns.warmup)
            idle_cpu["plain"].append(other)
            got, cpu = measure(c[0], c[1], ns.seconds, ns.warmup)
            ratios[c].append(got / base)
            if c[0] == "idle":
                idle_cpu["idle"].append(cpu)
            elif cpu is not None:
                top_cpu.append(cpu)
        sys.stderr.write("round %d/%d done\n" % (rnd + 1, ns.rounds))
    print("| configuration | rate | throughput vs plain (median) | min-max "
          "| runs |")
    print("|---|---|---|---|---|")
    for c in configs:
        r = ratios[c]
        print("| %s | %s | %.3f | %.3f-%.3f | %d |" % (
            c[0], "%d Hz" % c[1] if c[1] else "-", statistics.median(r),
            min(r), max(r), len(r)))
    print("\nCPU of every thread but the main one during the %g s window "
          "(kernel ticks, total over the runs): plain %.2f s in %d runs, "
          "enabled and idle (STACKWATCH_DUMP=1) %.2f s in %d runs"
          % (ns.seconds, sum(idle_cpu["plain"]), len(idle_cpu["plain"]),
             sum(idle_cpu["idle"]), len(idle_cpu["idle"])))
    if top_cpu:
        print("\ntop's own CPU (user + system) per second: median %.3f s "
              "(%d runs)" % (statistics.median(top_cpu), len(top_cpu)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
