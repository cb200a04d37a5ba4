"""An asyncio task that blocks its loop twice: ~1.2 s in a C call that
holds the GIL, then 0.8 s in time.sleep. argv[1] is "auto"
(monitor.start(asyncio=True)) or "watch" (monitor.watch_asyncio with a
threshold of its own), on asyncio's loop, or "uvloop_auto" /
"uvloop_watch", the same on a uvloop loop (imported after the monitor
started; "uvloop_early" imports it before and starts the monitor from
inside the running loop, and expects watch_asyncio to refuse it). The
test expects both stalls reported while they run, naming the task, the
loop and the aio-* lines.
"""
import os
import sys
import threading
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import all_events, calibrate, mark, of_type, result

import asyncio

def crunch_in_c(n):
    return sum(range(n))  # aio-crunch

def hog():
    time.sleep(0.1)
    crunch_in_c(N // 2)

def napping(seconds):
    time.sleep(seconds)  # aio-nap

N = calibrate(1.2, crunch_in_c)
MODE = sys.argv[1].replace("uvloop_", "")
if MODE == "early":
    import uvloop
if MODE == "auto":
    monitor.start(max_blocking_time=0.1, asyncio=True)
elif MODE != "early":
    monitor.start(max_blocking_time=0.1)
if sys.argv[1].startswith("uvloop_"):
    import uvloop

async def handler():
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    crunch_in_c(N)  # aio-handler-crunch
    took_c = time.monotonic() - t0
    mark("crunch returned after %.3f s" % took_c)
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    napping(0.8)  # aio-handler-nap
    took_nap = time.monotonic() - t0
    mark("nap returned after %.3f s" % took_nap)
    await asyncio.sleep(0.05)
    return took_c, took_nap

async def main():
    if MODE == "early":
        monitor.start(max_blocking_time=0.1, asyncio=True)  # in the loop
        try:
            monitor.watch_asyncio(name="my-loop", max_blocking_time=0.15)
        except ValueError as e:
            return {"refused": str(e)}
        return {"refused": None}
    if MODE == "watch":
        monitor.watch_asyncio(name="my-loop", max_blocking_time=0.15)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(handler(), name="the-handler")
    took_c, took_nap = await task
    end = time.monotonic() + 20
    while (len(of_type("EventLoopUnblocked")) < 2
           and time.monotonic() < end):
        await asyncio.sleep(0.02)
    # Another thread holds the GIL for ~0.6 s while the loop waits (from
    # 0.1 s after its start: the loop is back in its wait by then): the
    # loop cannot run (nor tick) but is not what blocks; no stall (the
    # test counts the reports).
    other = threading.Thread(target=hog)
    other.start()
    while other.is_alive():
        await asyncio.sleep(0.02)
    blocked = of_type("EventLoopBlocked")
    return {"took_crunch": took_c, "took_nap": took_nap,
            "pid": os.getpid(), "events": all_events(),
            "task_is_handler": [b.task is task for b in blocked],
            "loop_is_ours": [b.loop is loop for b in blocked]}

if sys.argv[1].startswith("uvloop_"):
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    out = loop.run_until_complete(main())
    # The loop no longer runs: 0.5 s away from it is no stall (the test
    # counts the reports).
    time.sleep(0.5)
    loop.close()
    result(out)
else:
    result(asyncio.run(main()))
