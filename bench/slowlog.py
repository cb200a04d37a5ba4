"""What the slow-script log costs the script it watches.

A CPU-bound pure-Python workload (a thread-free loop that allocates, with
a deep-ish stack and a few locals per frame) runs under
``stackwatch run --max-blocking-time off`` with the log off, every 5 s
(the default) and every 0.5 s, in alternating rounds (A, B, C, A, B, C...);
the wall time of each run is taken by the child itself (from the first
line of the script to its last), so interpreter start-up is left out.
Reported: medians, the ratio to "log off", and the snapshots written.

    python bench/slowlog.py [--rounds 7] [--seconds 6]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import git_commit  # noqa: E402

WORKLOAD = """
import sys, time
start = time.perf_counter()

def leaf(n, payload):
    total = 0
    for i in range(n):
        total += len(str(i)) + len(payload)
    return total

def middle(depth, n):
    label = "depth-%d" % depth
    if depth == 0:
        return leaf(n, label)
    return middle(depth - 1, n)

deadline = start + float(sys.argv[1])
calls = 0
while time.perf_counter() < deadline:
    middle(20, 2000)
    calls += 1
print("calls %d in %.6f s" % (calls, time.perf_counter() - start))
"""

SETTINGS = [("log off", ["--interval", "off"]),
            ("every 5 s", ["--interval", "5"]),
            ("every 0.5 s", ["--interval", "0.5"])]


def one(script: str, extra, seconds: float, tmp: str):
    log = os.path.join(tmp, "log")
    if os.path.exists(log):
        os.unlink(log)
    cmd = [sys.executable, "-m", "stackwatch", "run",
           "--max-blocking-time", "off", "--log", log] + extra + [
               script, str(seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit("run failed: %s" % proc.stderr)
    m = re.search(r"calls (\d+) in ([\d.]+) s", proc.stdout)
    snaps = re.search(r"(\d+) snapshots? written", proc.stderr)
    calls, wall = int(m.group(1)), float(m.group(2))
    # Work per second: the script runs for a fixed time.
    return calls / wall, int(snaps.group(1)) if snaps else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "work.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(WORKLOAD))
        rates = {name: [] for name, _ in SETTINGS}
        snaps = {name: [] for name, _ in SETTINGS}
        for _ in range(args.rounds):
            for name, extra in SETTINGS:
                rate, n = one(script, extra, args.seconds, tmp)
                rates[name].append(rate)
                snaps[name].append(n)
    base = statistics.median(rates["log off"])
    print("slow-script log cost: CPython %s, commit %s, %d rounds of %g s "
          "(median calls/s; ratio = throughput with the log / without)"
          % (sys.version.split()[0], git_commit(os.path.dirname(HERE)),
             args.rounds, args.seconds))
    print("| log | calls/s | ratio | snapshots per run |")
    print("|---|---|---|---|")
    for name, _ in SETTINGS:
        med = statistics.median(rates[name])
        print("| %s | %.1f (%.1f-%.1f) | %.3f | %d |" % (
            name, med, min(rates[name]), max(rates[name]), med / base,
            statistics.median(snaps[name])))


if __name__ == "__main__":
    main()
