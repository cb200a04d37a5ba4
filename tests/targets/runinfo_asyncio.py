"""asyncio: main() runs "middle" (gathering leaf-1 and leaf-2), "waiter"
(awaiting middle) and, on 3.11+, "group" (a TaskGroup with tg-leaf); a
suspended raw greenlet besides. A thread, once every task waits, prints
(JSON) the RunTree with locals, its text, trees without tasks and
without greenlets, and a text without tasks; then ends the process.

The test expects the tasks as a tree of which task awaits which, with
their await chains and locals, and tasks=/greenlets= leaving each out.
With RUNINFO_LOOP=uvloop, the loop is uvloop's, watched by the monitor
(its run_forever has no Python frame: the tree finds it as a watched
loop).
"""
import asyncio
import json
import os
import sys
import threading

import greenlet

import stackwatch

started = threading.Event()


async def leaf(n):
    await asyncio.sleep(30)


async def middle():
    a = asyncio.create_task(leaf(1), name="leaf-1")
    b = asyncio.create_task(leaf(2), name="leaf-2")
    await asyncio.gather(a, b)


async def waiter(t):
    await t


async def in_group():
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(3), name="tg-leaf")


async def main():
    m = asyncio.create_task(middle(), name="middle")
    asyncio.create_task(waiter(m), name="waiter")
    if sys.version_info >= (3, 11):
        asyncio.create_task(in_group(), name="group")
    await asyncio.sleep(0.05)  # every task reaches its await
    started.set()
    await asyncio.sleep(30)

# A suspended raw greenlet, for greenlets=False to leave out.
glet = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch())
glet.switch()


def look():
    try:
        started.wait(20)
        tree = stackwatch.RunTree(locals=True)
        out = {"all": tree.to_dict(), "text": tree.format(),
               "no_tasks": stackwatch.RunTree(tasks=False).to_dict(),
               "no_greenlets": stackwatch.RunTree(greenlets=False).to_dict(),
               "text_no_tasks": stackwatch.format_run_info(tasks=False)}
        print(json.dumps(out), flush=True)
    finally:
        sys.stdout.flush()
        os._exit(0)


threading.Thread(target=look, name="looker", daemon=True).start()
if os.environ.get("RUNINFO_LOOP") == "uvloop":
    stackwatch.monitor.start(max_blocking_time=30, asyncio=True)
    import uvloop
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())
else:
    asyncio.run(main())
