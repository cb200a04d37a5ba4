"""Calls and returns all the time in Python, in coroutines (their frames
live outside the thread's data stack: a reader from outside reads them
one by one), never idle: a stack read while it changes is torn.  Prints
"ready", then runs until killed."""

import asyncio
import json


def render(n):
    return json.dumps([{"i": i, "s": str(i)} for i in range(n)])


async def handler(i):
    await asyncio.sleep(0)
    return len(render(20 + i % 7))


async def main():
    print("ready", flush=True)
    while True:
        await asyncio.gather(*(handler(i) for i in range(50)))


asyncio.run(main())
