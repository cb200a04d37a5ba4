"""An aiohttp server under a local load, for tests/test_tasks.py: a
thread of its own sends REQUESTS requests one after the other on one
keep-alive connection; the handler spends its time in crunch(), a CPU
function of its own."""

import asyncio
import http.client
import threading
import time

from aiohttp import web

REQUESTS = 60


def crunch():
    end = time.perf_counter() + 0.01
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


async def handle(request):
    return web.Response(text=str(crunch()))


def load(port, done):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(REQUESTS):
            conn.request("GET", "/")
            r = conn.getresponse()
            assert r.status == 200, r.status
            r.read()
    finally:
        conn.close()
        done.set()


async def main():
    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    done = threading.Event()
    threading.Thread(target=load, args=(port, done), name="load").start()
    while not done.is_set():
        await asyncio.sleep(0.01)
    await runner.cleanup()
    print("served", REQUESTS)


if __name__ == "__main__":
    asyncio.run(main())
