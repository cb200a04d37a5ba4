"""An asyncio program whose task "the-handler" blocks the loop in a
GIL-holding C call (crunch), then in time.sleep; prints its argv and
__name__ and exits with status 3.

The tests expect `stackwatch run` (and STACKWATCH_MONITOR=1) to report
both stalls (crunch's line with the GIL held, then the handler's sleep
line with the task's name), and the program's argv, name and status kept.
"""
import asyncio
import sys
import time


def crunch():
    return sum(range(30_000_000))  # crunch-line


async def handler():
    await asyncio.sleep(0.05)
    crunch()
    await asyncio.sleep(0.05)
    time.sleep(0.4)  # handler-sleep


async def main():
    await asyncio.create_task(handler(), name="the-handler")

print("argv=%r name=%s" % (sys.argv, __name__))
asyncio.run(main())
sys.exit(3)
