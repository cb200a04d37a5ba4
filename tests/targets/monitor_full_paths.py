"""monitor.start(full_paths=...) from the API: `monitor_full_paths.py
short|full` starts the watchdog (asyncio loops watched, 0.1 s), then
blocks its loop for 0.4 s in sleep_here(); the stall report goes to
stderr. The tests (test_paths.py) expect the report's frames of
asyncio/base_events.py short by default and full with full_paths=True."""
import asyncio
import sys
import time

import stackwatch.monitor

stackwatch.monitor.start(max_blocking_time=0.1, asyncio=True,
                         full_paths=sys.argv[1] == "full")


def sleep_here():
    time.sleep(0.4)  # block-line


async def main():
    sleep_here()


asyncio.run(main())
stackwatch.monitor.stop()
