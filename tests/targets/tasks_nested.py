"""asyncio tasks for tests/test_tasks.py: each task spins on the CPU in a
function of its own, in the shape argv[1] names (gather, taskgroup,
direct, noloop), so that a profile shows who ran under whom."""

import asyncio
import sys
import time

ROUNDS = 100


def spin(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def work_a():
    return spin(0.004)


def work_b():
    return spin(0.004)


def work_c():
    return spin(0.004)


def work_main():
    return spin(0.004)


async def c():
    for _ in range(ROUNDS):
        work_c()
        await asyncio.sleep(0)


async def a():
    for _ in range(ROUNDS // 2):
        work_a()
        await asyncio.sleep(0)
    await asyncio.gather(c())


async def b():
    for _ in range(ROUNDS):
        work_b()
        await asyncio.sleep(0)


async def main_gather():
    await asyncio.gather(a(), b())  # gather waits here


async def main_taskgroup():
    async with asyncio.TaskGroup() as tg:
        tg.create_task(a())
        tg.create_task(b())


async def main_direct():
    child = asyncio.get_running_loop().create_task(b(), name="the-child")
    work_main()
    await child  # direct waits here


def main():
    shape = sys.argv[1]
    if shape == "noloop":
        for _ in range(ROUNDS):
            work_b()
        return
    asyncio.run({"gather": main_gather, "taskgroup": main_taskgroup,
                 "direct": main_direct}[shape]())


if __name__ == "__main__":
    main()
