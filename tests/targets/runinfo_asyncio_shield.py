"""asyncio: "shielder" awaits asyncio.shield() of the task "shielded". A
thread, once both wait, prints (JSON) the RunTree; then ends the process.

The test expects "shielded" under "shielder" in the task tree.
"""
import asyncio
import json
import os
import threading

import stackwatch

started = threading.Event()


async def leaf():
    await asyncio.sleep(30)


async def shielder():
    t = asyncio.create_task(leaf(), name="shielded")
    await asyncio.shield(t)


async def main():
    asyncio.create_task(shielder(), name="shielder")
    await asyncio.sleep(0.05)
    started.set()
    await asyncio.sleep(30)


def look():
    try:
        started.wait(20)
        print(json.dumps(stackwatch.RunTree().to_dict()), flush=True)
    finally:
        os._exit(0)


threading.Thread(target=look, daemon=True).start()
asyncio.run(main())
