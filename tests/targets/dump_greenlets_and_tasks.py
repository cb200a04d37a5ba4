"""Enables dumps; a greenlet "the-spawner" spawns "the-handler", and a
thread runs an asyncio task "outer" awaiting a task "inner-task". Prints
"ready" and waits.

The test expects `stackwatch dump` to show the greenlet tree (the-handler
under the-spawner) and the task tree (inner-task under Task-1).
"""
import asyncio
import threading

import gevent
import stackwatch

stackwatch.enable_dump()


def handler():
    gevent.sleep(60)


def spawner():
    gevent.spawn(handler).name = "the-handler"
    gevent.sleep(60)


async def inner():
    await asyncio.sleep(60)


async def outer():
    await asyncio.create_task(inner(), name="inner-task")


threading.Thread(target=asyncio.run, args=(outer(),),
                 daemon=True).start()
gevent.spawn(spawner).name = "the-spawner"
gevent.sleep(0.3)
print("ready", flush=True)
gevent.sleep(60)
