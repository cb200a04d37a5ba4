"""Waits in gevent's hub or in an asyncio loop: `paths_wait.py gevent|asyncio
SECONDS` prints "ready", then waits SECONDS (gevent.sleep or
asyncio.sleep) and exits.

The tests (test_paths.py) expect the frames of gevent/hub.py (the hub's
run loop) or of the standard library's asyncio/base_events.py in dumps and
profiles, shown short by default and full with --full-paths.
"""
import sys


def wait_in_gevent(seconds):
    import gevent

    # The hub's first run imports what it needs (inspect, ast...): a
    # dump asked at "ready" must find it waiting in its loop, not there.
    gevent.sleep(0.01)
    print("ready", flush=True)
    gevent.sleep(seconds)


def wait_in_asyncio(seconds):
    import asyncio

    async def main():
        print("ready", flush=True)
        await asyncio.sleep(seconds)

    asyncio.run(main())  # asyncio-run


kind, seconds = sys.argv[1], float(sys.argv[2])
if kind == "gevent":
    wait_in_gevent(seconds)
else:
    wait_in_asyncio(seconds)
