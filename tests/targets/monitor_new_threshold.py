"""start() on a running monitor changes max_blocking_time for the hubs and
loops already watched. Stalls 0.3 s four times, writing a "@@ ..." marker
on stderr after each phase. The test expects the hub stall at 0.1 s
reported, none once max_blocking_time is None, the loop stall at 0.1 s
reported, and none for a loop that has a threshold of its own (5 s).
"""
import asyncio
import sys
import time

import gevent
import stackwatch.monitor as m

m.start(max_blocking_time=5.0)
gevent.sleep(0.01)                     # the hub runs: watched at 5 s
m.start(max_blocking_time=0.1)         # now 0.1 s
gevent.spawn(time.sleep, 0.3).join()   # reported
sys.stderr.write("@@ hub done\n")
m.start(max_blocking_time=None)        # hubs no longer watched
gevent.spawn(time.sleep, 0.3).join()   # not reported
sys.stderr.write("@@ unwatched done\n")


async def main():
    m.start(max_blocking_time=5.0)
    m.watch_asyncio()                          # the global 5 s
    await asyncio.sleep(0.01)
    m.start(max_blocking_time=0.1)
    time.sleep(0.3)                            # reported
    await asyncio.sleep(0.01)
    sys.stderr.write("@@ loop done\n")
    m.watch_asyncio(max_blocking_time=5.0)     # its own threshold
    m.start(max_blocking_time=0.1)
    time.sleep(0.3)                            # not reported
    await asyncio.sleep(0.01)

asyncio.run(main())
