"""Profiler(tasks=...) started from inside a running loop (the layout
probe runs its own loop in a thread of its own), for tests/test_tasks.py:
prints the task chains of the samples that ran work(), as JSON, and the
task names the application saw."""

import asyncio
import json
import sys
import time

import stackwatch


def work():
    end = time.perf_counter() + 0.004
    while time.perf_counter() < end:
        pass


async def child():
    for _ in range(100):
        work()
        await asyncio.sleep(0)


async def main():
    prof = stackwatch.Profiler(rate=200, tasks=sys.argv[1])
    prof.start()
    task = asyncio.get_running_loop().create_task(child())
    await task
    prof.stop()
    chains = {}
    for s in prof.samples():
        names = [f.name for f in s.frames]
        if "work" in names:
            key = ";".join(n for n in names if n.startswith("[task] "))
            chains[key] = chains.get(key, 0) + s.count
    st = prof.stats()
    print(json.dumps({"chains": chains, "child": task.get_name(),
                      "main": asyncio.current_task().get_name(),
                      "refreshes": st["task_refreshes"],
                      "links": st["task_links"],
                      "tasks": st["tasks"]}))


if __name__ == "__main__":
    asyncio.run(main())
