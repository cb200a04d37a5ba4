"""The cost of `--tasks` (csrc/tasks.c, src/stackwatch/_tasks.py): an
asyncio loop with N tasks waiting on an event and one task spinning,
profiled for SECONDS at 100 Hz without tasks, with tasks and with
tasks="all". Prints, per row: the sampler's CPU time per pass (its GIL-free
side), and the GIL-side refresh of the table of links (count, mean and
longest, on the stackwatch-tasks thread, holding the GIL).

    python bench/tasks_cost.py [SECONDS] [N ...]
"""

import asyncio
import sys
import time

import stackwatch


def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def waiter(ev):
    await ev.wait()


async def main(n, tasks, seconds):
    ev = asyncio.Event()
    waiting = [asyncio.ensure_future(waiter(ev)) for _ in range(n)]
    await asyncio.sleep(0)
    prof = stackwatch.Profiler(rate=100, tasks=tasks)
    prof.start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        spin(0.005)
        await asyncio.sleep(0)
    prof.stop()
    ev.set()
    await asyncio.gather(*waiting)
    return prof.stats()


def row(n, tasks, seconds):
    st = asyncio.run(main(n, tasks, seconds))
    per_pass = st["sampler_cpu_seconds"] / max(st["passes"], 1) * 1e6
    line = "%6d  %-7s  %6d passes  sampler %7.1f us/pass" % (
        n, tasks or "off", st["passes"], per_pass)
    if tasks:
        r = st["task_refreshes"]
        line += "  refresh %4d x, mean %7.2f ms, longest %7.2f ms" % (
            r, st["task_refresh_seconds"] / max(r, 1) * 1e3,
            st["task_refresh_longest"] * 1e3)
    print(line, flush=True)


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    sizes = [int(a) for a in sys.argv[2:]] or [10, 1000, 10000]
    print("python %d.%d, %g s per row" % (sys.version_info[:2] + (seconds,)))
    for n in sizes:
        for tasks in (False, "running", "all"):
            row(n, tasks, seconds)
