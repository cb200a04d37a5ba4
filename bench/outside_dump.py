"""How long a dump of a process that did not enable stackwatch takes when
read from outside (``stackwatch dump PID``'s outside path: process_vm_readv
on its pid, issue 17), against ``py-spy dump --pid`` where py-spy is
installed, and what the target pays.

A plain CPython program (no stackwatch) runs T threads, each sleeping at
the bottom of a D-deep pure-Python recursion, and its main thread counts
in a loop; the benchmark reads it R times in alternating rounds:

- ``outside``: ``_native.outside_dump(pid)`` in this process (the read, the
  ELF symbol lookup and the formatting; no interpreter start);
- ``outside --locals``: the same with every frame's locals;
- ``py-spy``: ``py-spy dump --pid`` (a process start included, and py-spy
  stops the target while it reads unless --nonblocking; both are shown);

and reports the medians. Also the target's counter rate, against
undisturbed, while it is read in a tight loop (a core busy reading it:
on a machine with a core to spare the ratio should be about 1, the target
is never stopped) and while it is profiled from outside at 100 Hz.

    python bench/outside_dump.py [--rounds 15] [--threads 1,10,50]
                                 [--depth 50] [--py-spy PATH]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import git_commit  # noqa: E402

from stackwatch import _native  # noqa: E402

TARGET = r"""
import os, sys, threading, time

count = 0

def deep(n):
    if n == 0:
        time.sleep(3600)
    return deep(n - 1)

for _ in range(int(sys.argv[1])):
    threading.Thread(target=deep, args=(int(sys.argv[2]),),
                     daemon=True).start()

def main():
    global count
    print("ready", flush=True)
    while True:
        count += 1
        if count % 100000 == 0:
            with open(sys.argv[3], "w") as f:
                f.write("%d %f\n" % (count, time.perf_counter()))

main()
"""


def start(threads, depth, stamp):
    proc = subprocess.Popen(
        [sys.executable, "-c", TARGET, str(threads), str(depth), stamp],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # the threads reach their depth
    return proc


def rate(stamp, seconds):
    """The target's loop iterations per second over `seconds`."""
    def read():
        while True:
            try:
                with open(stamp) as f:
                    c, t = f.read().split()
                return int(c), float(t)
            except (OSError, ValueError):
                time.sleep(0.01)
    c0, t0 = read()
    time.sleep(seconds)
    c1, t1 = read()
    return (c1 - c0) / max(t1 - t0, 1e-9)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", default="1,10,50")
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--py-spy", default=shutil.which("py-spy"),
                    help="py-spy's path (default: on PATH)")
    args = ap.parse_args()
    pyspy = args.py_spy
    print("outside dump benchmark, commit %s, CPython %s, %d rounds, depth %d"
          % (git_commit(os.path.dirname(HERE)), sys.version.split()[0],
             args.rounds, args.depth))
    stamp = "/tmp/stackwatch-bench-outside-%d" % os.getpid()
    for threads in [int(x) for x in args.threads.split(",")]:
        proc = start(threads, args.depth, stamp)
        try:
            pid = proc.pid
            kinds = {"outside": lambda: _native.outside_dump(pid),
                     "outside --locals":
                         lambda: _native.outside_dump(pid, locals=True)}
            if pyspy:
                kinds["py-spy"] = lambda: subprocess.run(
                    [pyspy, "dump", "--pid", str(pid)],
                    capture_output=True, check=True)
                kinds["py-spy --nonblocking"] = lambda: subprocess.run(
                    [pyspy, "dump", "--nonblocking", "--pid", str(pid)],
                    capture_output=True, check=True)
            times = {k: [] for k in kinds}
            for _ in range(args.rounds):
                for k, fn in kinds.items():
                    times[k].append(timed(fn))
            text = _native.outside_dump(pid)["text"]
            frames = sum(1 for line in text.splitlines()
                         if line.startswith("    "))
            print("\n%d threads + main, %d frames read:" % (threads, frames))
            for k, v in times.items():
                print("  %-22s median %8.2f ms  min %8.2f ms"
                      % (k, 1e3 * statistics.median(v), 1e3 * min(v)))
            quiet = rate(stamp, 1.0)
            stop = threading.Event()
            reads = [0]

            def reader():
                while not stop.is_set():
                    _native.outside_dump(pid)
                    reads[0] += 1

            th = threading.Thread(target=reader)
            t0 = time.perf_counter()
            th.start()
            read_rate = rate(stamp, 1.0)
            stop.set()
            th.join()
            print("  target's loop while read %.0f times a second from "
                  "outside: %.3f of its undisturbed rate"
                  % (reads[0] / (time.perf_counter() - t0),
                     read_rate / quiet if quiet else 0))
            # A profile from outside at 100 Hz (stackwatch._outside.record)
            # against the undisturbed rate measured again right after.
            from stackwatch import _outside

            res = {}
            th = threading.Thread(target=lambda: res.setdefault(
                "rec", _outside.record(pid, 2.0, rate=100)))
            th.start()
            time.sleep(0.5)
            recorded = rate(stamp, 1.0)
            th.join()
            quiet = rate(stamp, 1.0)
            st = res["rec"].session.stats()
            print("  target's loop while profiled from outside at 100 Hz: "
                  "%.3f of its undisturbed rate (%d passes in %.1f s)"
                  % (recorded / quiet if quiet else 0, st["passes"],
                     st["duration_seconds"]))
        finally:
            proc.kill()
            proc.wait()
    try:
        os.unlink(stamp)
    except OSError:
        pass


if __name__ == "__main__":
    main()
