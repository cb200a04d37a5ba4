"""FIXTURE WRITER for tests: memory profile directories written by hand in
the documented format (docs/memory-format.md), for the readers' tests
(`stackwatch mem graph|peaks|report`) and their bad-input cases. It is
not the profiler: the real engine's files are tested end to end in
tests/test_mem_readers.py::test_engine_profile_read_by_the_readers.

write_profile(root, pid, threads, process=None, stacks=None, end=True)
writes ``root/<pid>/`` and returns its path:

- threads: {name: [(t, py_live, c_live, py_alloc, c_alloc), ...]}
  (py_free and c_free are derived: alloc - live);
- process: [(t, rss), ...] (default: from the threads' sums plus a
  base RSS of 20 MiB);
- stacks: {thread name: (defs, records)}, defs {stack_id: [frames root
  first]}, records [("+", t, block, stack_id, weight) | ("-", t, block)];
- end: write the ``# end`` lines;
- greenlets: {greenlet id: (label, rows as threads')}, written as
  ``greenlet-<id>.mem``.
"""

import os

MiB = 1 << 20

THREAD_COLUMNS = "t py_live c_live py_alloc py_free c_alloc c_free"
PROCESS_COLUMNS = "t rss py_live c_live py_alloc py_free c_alloc c_free"


def safe_name(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def thread_lines(name, rows, native_id=1000, end=True, greenlet_id=None):
    if greenlet_id is None:
        out = ["# stackwatch-mem 1 thread", "# name %s" % name,
               "# native_id %d" % native_id]
    else:
        out = ["# stackwatch-mem 1 greenlet", "# name %s" % name,
               "# greenlet_id %d" % greenlet_id]
    out.append("# columns %s" % THREAD_COLUMNS)
    for t, py_live, c_live, py_alloc, c_alloc in rows:
        out.append("%.6f %d %d %d %d %d %d" % (
            t, py_live, c_live, py_alloc, py_alloc - py_live, c_alloc,
            c_alloc - c_live))
    if end and rows:
        out.append("# end %.6f" % rows[-1][0])
    return "".join(line + "\n" for line in out)


def _latest(threads, times):
    """For each time (ascending), each thread's last row at or before it
    (None before its first): one pass per thread."""
    out = [[] for _ in times]
    for trows in threads.values():
        k = -1
        for i, t in enumerate(times):
            while k + 1 < len(trows) and trows[k + 1][0] <= t + 1e-9:
                k += 1
            out[i].append(trows[k] if k >= 0 else None)
    return out


def process_lines(pid, rows, threads, end=True):
    out = ["# stackwatch-mem 1 process", "# pid %d" % pid,
           "# start_unix 1765000000.000000", "# interval 0.02",
           "# profile both", "# columns %s" % PROCESS_COLUMNS]
    latest = _latest(threads, [t for t, _ in rows])
    for (t, rss), lasts in zip(rows, latest):
        sums = [0, 0, 0, 0, 0, 0]
        for last in lasts:
            if last is not None:
                _, pl, cl, pa, ca = last
                for i, v in enumerate((pl, cl, pa, pa - pl, ca, ca - cl)):
                    sums[i] += v
        out.append("%.6f %d %d %d %d %d %d %d" % ((t, rss) + tuple(sums)))
    if end and rows:
        out.append("# end %.6f" % rows[-1][0])
    return "".join(line + "\n" for line in out)


def stack_lines(name, defs, records, end=True):
    out = ["# stackwatch-mem 1 stacks", "# name %s" % name,
           "# native_id 1000", "# sample_interval 524288"]
    defined = set()
    last_t = 0.0
    for rec in records:
        if rec[0] == "+":
            _, t, block, sid, weight = rec
            if sid not in defined and sid in defs:
                out.append("s %d %s" % (sid, ";".join(defs[sid])))
                defined.add(sid)
            out.append("+ %.6f %d %d %d" % (t, block, sid, weight))
        else:
            _, t, block = rec
            out.append("- %.6f %d" % (t, block))
        last_t = t
    if end:
        out.append("# end %.6f" % last_t)
    return "".join(line + "\n" for line in out)


def write_profile(root, pid, threads, process=None, stacks=None, end=True,
                  greenlets=None):
    d = os.path.join(str(root), str(pid))
    os.makedirs(d, exist_ok=True)
    if process is None:
        times = sorted({r[0] for rows in threads.values() for r in rows})
        process = [(t, 20 * MiB + sum(r[1] + r[2] for r in lasts if r))
                   for t, lasts in zip(times, _latest(threads, times))]
    with open(os.path.join(d, "process.mem"), "w") as f:
        f.write(process_lines(pid, process, threads, end))
    for i, (name, rows) in enumerate(threads.items()):
        with open(os.path.join(d, safe_name(name) + ".mem"), "w") as f:
            f.write(thread_lines(name, rows, 1000 + i, end))
    for gid, (name, rows) in (greenlets or {}).items():
        with open(os.path.join(d, "greenlet-%d.mem" % gid), "w") as f:
            f.write(thread_lines(name, rows, end=end, greenlet_id=gid))
    for name, (defs, records) in (stacks or {}).items():
        with open(os.path.join(d, safe_name(name) + ".stack"), "w") as f:
            f.write(stack_lines(name, defs, records, end))
    return d


def ramp(peak, at, duration, step=0.02, final=0, c_share=0.0):
    """Rows of a thread whose live memory rises linearly to `peak` bytes
    at time `at`, then falls linearly to `final` at `duration`."""
    rows = []
    alloc = 0
    prev = 0
    n = int(round(duration / step))
    for i in range(1, n + 1):
        t = i * step
        if t <= at:
            live = int(peak * t / at)
        else:
            live = int(peak + (final - peak) * (t - at) / (duration - at))
        alloc += max(0, live - prev)
        prev = live
        c = int(live * c_share)
        c_alloc = int(alloc * c_share)
        rows.append((t, live - c, c, alloc - c_alloc, c_alloc))
    return rows
