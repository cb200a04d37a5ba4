"""Two asyncio tasks taking turns five times, for `stackwatch trace
--asyncio`: each task's steps (worker_a with work_a, worker_b with
work_b) must land on its own track, none on the loop's thread."""

import asyncio


def work_a():
    return sum(range(100))


def work_b():
    return sum(range(100))


async def worker_a():
    for _ in range(5):
        work_a()
        await asyncio.sleep(0)


async def worker_b():
    for _ in range(5):
        work_b()
        await asyncio.sleep(0)


async def main():
    await asyncio.gather(asyncio.create_task(worker_a(), name="A"),
                         asyncio.create_task(worker_b(), name="B"))


asyncio.run(main())
