"""An aiohttp server under a local load of concurrent connections, for
tests/test_tasks.py: CLIENTS threads of their own each send REQUESTS
requests on a keep-alive connection; each request's handler gathers two
lookup() tasks (asyncio names them: Task-N), which spend their time in
crunch(), a CPU function of its own."""

import asyncio
import http.client
import threading
import time

from aiohttp import web

CLIENTS = 4
REQUESTS = 40


def crunch():
    end = time.perf_counter() + 0.003
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


async def lookup(i):
    await asyncio.sleep(0)
    return crunch() + i


async def handler(request):
    a, b = await asyncio.gather(lookup(1), lookup(2))
    return web.Response(text=str(a + b))


def client(port, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(REQUESTS):
            conn.request("GET", "/")
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
    except Exception as e:  # reported by main
        errors.append(repr(e))
    finally:
        conn.close()


async def main():
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    errors = []
    threads = [threading.Thread(target=client, args=(port, errors),
                                name="client-%d" % i)
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        await asyncio.sleep(0.01)
    await runner.cleanup()
    assert not errors, errors
    print("served", CLIENTS * REQUESTS)


if __name__ == "__main__":
    asyncio.run(main())
