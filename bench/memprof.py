"""What the memory profiler costs, beside tracemalloc and memray.

Each workload (bench/workloads/mem/mem_*.py: one thread allocating, four
threads with a producer/consumer pair, zlib through the raw allocator,
libsqlite3 through malloc, gevent greenlets spawned per request) runs
plain, under ``-X tracemalloc=1`` and ``=25``, under ``stackwatch mem
record`` (per-thread counters of the ``python`` profile; then
``--stacks``; then ``--profile both --stacks``; then ``--greenlets``, the
per-greenlet counters; then a ``--filter`` that keeps nothing, its worst
case),
and under ``memray
run`` (and ``--native``) when memray is installed, in alternating rounds;
each run times itself from its first line to its last (start-up left
out). Reported: medians, the ratio to the plain run, and the size of the
stackwatch profile's files per second of run.

    python bench/memprof.py [--rounds 3] [--workloads mem_alloc,...]
                            [--server SECONDS [--every S]]

With --server, a server-like workload (bench/workloads/mem/mem_server.py:
eight threads, a shared bounded cache) runs SECONDS plain and profiled
with stacks, and the profiler's own memory is reported: its side table
(stats()["table_bytes"]), the process's RSS against the plain run's, and
the size of the files per minute. With --every, the profiled run also
prints a timeline of the side table every S seconds (mem_server.py's
"timeline" lines: requests, RSS, table, leaves, and the granule map's
census), to see what grows.
"""
import ast

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import git_commit  # noqa: E402

WORKLOADS = ("mem_alloc", "mem_threads", "mem_clib", "mem_sqlite",
             "mem_greenlets")


def settings(have_memray: bool):
    py = [sys.executable]
    sw = py + ["-m", "stackwatch", "mem", "record", "-o", "{out}"]
    out = [("plain", py),
           ("tracemalloc 1 frame", py + ["-X", "tracemalloc=1"]),
           ("tracemalloc 25 frames", py + ["-X", "tracemalloc=25"]),
           ("stackwatch counters", sw + ["--profile", "python"]),
           ("stackwatch --stacks", sw + ["--profile", "python", "--stacks"]),
           ("stackwatch both --stacks", sw + ["--profile", "both",
                                              "--stacks"]),
           # Per-greenlet counters on top of the per-thread ones.
           ("stackwatch --greenlets", sw + ["--profile", "python",
                                            "--greenlets"]),
           # The filter's worst case: no frame is kept, so every
           # allocation walks its whole stack.
           ("stackwatch --filter none",
            sw + ["--profile", "python", "--filter", "/nonexistent/"])]
    if have_memray:
        mr = py + ["-m", "memray", "run", "-q", "-o", "{out}/memray.bin"]
        out += [("memray run", mr), ("memray run --native",
                                     mr + ["--native"])]
    return out


def one(cmd, script, tmp):
    out = os.path.join(tmp, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    argv = [a.replace("{out}", out) for a in cmd] + [script]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    m = re.search(r"elapsed (\d+\.\d+)", proc.stdout)
    if proc.returncode != 0 or m is None:
        raise SystemExit("%s failed (%d):\n%s%s" % (" ".join(argv),
                         proc.returncode, proc.stdout, proc.stderr))
    size = sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(out) for f in files)
    return float(m.group(1)), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--server", type=float, metavar="SECONDS")
    ap.add_argument("--every", type=float, metavar="S")
    args = ap.parse_args()
    if args.server:
        server(args.server, args.every)
        return
    try:
        import memray  # noqa: F401
        have_memray = True
    except ImportError:
        have_memray = False
    sets = settings(have_memray)
    print("stackwatch %s, CPython %s, %d rounds, medians of the run's own "
          "time (start-up left out)%s"
          % (git_commit(os.path.dirname(HERE)), sys.version.split()[0],
             args.rounds, "" if have_memray else "; memray not installed"))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.workloads.split(","):
            script = os.path.join(HERE, "workloads", "mem", name + ".py")
            times = {label: [] for label, _ in sets}
            sizes = {label: [] for label, _ in sets}
            for _ in range(args.rounds):
                for label, cmd in sets:
                    t, size = one(cmd, script, tmp)
                    times[label].append(t)
                    sizes[label].append(size)
            base = statistics.median(times["plain"])
            print("\n%s (plain: %.3f s)" % (name, base))
            print("  %-24s %9s %7s %14s" % ("", "median s", "ratio",
                                            "files KiB/s"))
            for label, _ in sets:
                med = statistics.median(times[label])
                rate = ""
                if label.startswith("stackwatch"):
                    rate = "%.1f" % (statistics.median(sizes[label]) /
                                     1024 / med)
                print("  %-24s %9.3f %7.2f %14s" % (label, med, med / base,
                                                    rate))


def server(seconds: float, every=None) -> None:
    script = os.path.join(HERE, "workloads", "mem", "mem_server.py")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        profiled = [tmp] + ([str(every)] if every else [])
        for label, extra in (("plain", []), ("profiled", profiled)):
            proc = subprocess.run([sys.executable, script, str(seconds)] +
                                  extra, capture_output=True, text=True,
                                  timeout=seconds * 3 + 120)
            line = [ln for ln in proc.stdout.splitlines()
                    if ln.startswith("result ")]
            if proc.returncode != 0 or not line:
                raise SystemExit("%s failed:\n%s" % (label, proc.stderr))
            results[label] = ast.literal_eval(line[0][len("result "):])
            for ln in proc.stdout.splitlines():
                if ln.startswith("timeline "):
                    print("  " + ln[len("timeline "):])
    plain, prof = results["plain"], results["profiled"]
    print("server-like workload, %g s, 8 threads: requests handled plain "
          "%d, profiled %d" % (seconds, plain["handled"], prof["handled"]))
    print("  side table: %.1f MiB; RSS: plain %.1f MiB, profiled %.1f MiB "
          "(+%.1f); files: %.1f KiB per minute"
          % (prof["table_bytes"] / 2**20, plain["rss"] / 2**20,
             prof["rss"] / 2**20, (prof["rss"] - plain["rss"]) / 2**20,
             prof["files"] / 1024 / (seconds / 60)))


if __name__ == "__main__":
    main()
