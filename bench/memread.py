"""How long the memory profile reader takes on a big profile.

A 10-minute profile at the default 20 ms interval, 100 threads: 30,000
lines per thread file and in process.mem, and a .stack file per thread
(--stack-records: 20,000, a thread allocating 8 MiB/s sampled every 512
KiB, each block freed later) (written here in the documented
format, docs/memory-format.md), read by stackwatch._memread.read_profile
as `stackwatch mem graph|peaks|report` read it, then the work of `mem
graph` (the chart and memg.txt) and of `mem peaks`. Prints the size of
the files and the medians of --rounds runs.

    python bench/memread.py [--threads 100] [--lines 30000] [--rounds 3]
                            [--stack-records 20000]
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

from stackwatch import _memread, _memview

THREAD_COLUMNS = "t py_live c_live py_alloc py_free c_alloc c_free"
PROCESS_COLUMNS = "t rss py_live c_live py_alloc py_free c_alloc c_free"


def write(d: str, threads: int, lines: int, stack_records: int = 0) -> int:
    rnd = random.Random(1)
    total = 0
    for k in range(threads + 1):
        name = "process.mem" if k == 0 else "worker-%d.mem" % k
        out = ["# stackwatch-mem 1 %s\n" % ("process" if k == 0 else
                                               "thread"),
               "# name worker-%d\n" % k if k else "# pid 1\n",
               "# columns %s\n" % (PROCESS_COLUMNS if k == 0
                                   else THREAD_COLUMNS)]
        alloc = free = 0
        for i in range(1, lines + 1):
            a = rnd.randrange(0, 4 << 20)
            f = rnd.randrange(0, a + 1)
            alloc += a
            free += f
            row = "%.6f %d %d %d %d %d %d" % (
                i * 0.02, alloc - free, 0, alloc, free, 0, 0)
            if k == 0:
                row = "%.6f %d %s" % (i * 0.02, 50 << 20, row.split(" ", 1)[1])
            out.append(row + "\n")
        out.append("# end %.6f\n" % (lines * 0.02))
        data = "".join(out)
        total += len(data)
        with open(os.path.join(d, name), "w") as f:
            f.write(data)
        if k and stack_records:
            total += write_stacks(d, k, lines, stack_records, rnd)
    return total


def write_stacks(d: str, k: int, lines: int, records: int,
                 rnd: random.Random) -> int:
    """worker-k.stack: 200 stacks of 12 frames, records / 2 sampled
    blocks, each freed later in the run."""
    out = ["# stackwatch-mem 1 stacks\n", "# name worker-%d\n" % k,
           "# sample_interval 524288\n"]
    for sid in range(1, 201):
        frames = ";".join("f%d_%d (app/mod%d.py:%d)" % (sid, j, j, 10 + j)
                          for j in range(12))
        out.append("s %d %s\n" % (sid, frames))
    span = lines * 0.02
    events = []
    for b in range(records // 2):
        t = rnd.random() * span
        events.append((t, "+ %.6f %d %d 524288\n" % (
            t, k * 10 ** 7 + b, rnd.randrange(1, 201))))
        tf = t + rnd.random() * (span - t)
        events.append((tf, "- %.6f %d\n" % (tf, k * 10 ** 7 + b)))
    events.sort()
    out.extend(e for _, e in events)
    out.append("# end %.6f\n" % span)
    data = "".join(out)
    with open(os.path.join(d, "worker-%d.stack" % k), "w") as f:
        f.write(data)
    return len(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=100)
    ap.add_argument("--lines", type=int, default=30000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stack-records", type=int, default=20000,
                    help="records per thread's .stack file (0: none)")
    ns = ap.parse_args()
    d = tempfile.mkdtemp(prefix="stackwatch-memread-")
    try:
        size = write(d, ns.threads, ns.lines, ns.stack_records)
        times, graph, peaks = [], [], []
        for _ in range(ns.rounds):
            t0 = time.perf_counter()
            prof = _memread.read_profile(d)
            t1 = time.perf_counter()
            _memview.chart_svg(prof)
            _memview.memg_text(prof)
            t2 = time.perf_counter()
            _memview._all_peaks(prof, 3, 3)
            t3 = time.perf_counter()
            times.append(t1 - t0)
            graph.append(t2 - t0)
            peaks.append(t3 - t2 + t1 - t0)
        print("memread: %d threads x %d lines, %d .stack records each "
              "(%.0f MB), median of %d (Python %s): read %.2f s (best "
              "%.2f), read + chart + memg.txt (mem graph) %.2f s, read + "
              "peaks (mem peaks) %.2f s"
              % (ns.threads, ns.lines, ns.stack_records, size / 1e6,
                 ns.rounds,
                 sys.version.split()[0], statistics.median(times),
                 min(times), statistics.median(graph),
                 statistics.median(peaks)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
