"""What a program sees of stackwatch: nothing it did not ask for.

argv[1] is:
- "modules WHAT": imports WHAT ("nothing", "asyncio" and runs a loop,
  "greenlet" and switches, "gevent" and sleeps), then prints the loaded
  modules of greenlet, gevent and asyncio, one a line.
- "serve": an asyncio program: a task "the-waiter" waits in
  wait_here() (a line tagged serve-wait); prints "ready" from inside the
  loop, then waits 60 s.
- "late": starts the watchdog from inside a running loop
  (monitor.start(asyncio=True)), then blocks that loop 0.6 s in
  time.sleep (late-block); the test expects the stall reported.
"""
import sys
import time


def print_modules():
    families = ("greenlet", "gevent", "asyncio")
    for name in sorted(sys.modules):
        if name.split(".")[0] in families:
            print(name)


def modules(what):
    if what == "asyncio":
        import asyncio

        async def main():
            await asyncio.sleep(0)

        asyncio.run(main())
    elif what == "greenlet":
        import greenlet

        greenlet.greenlet(lambda: None).switch()
    elif what == "gevent":
        import gevent

        gevent.sleep(0)
    print_modules()


async def wait_here(event):
    await event.wait()  # serve-wait


async def serve():
    import asyncio

    event = asyncio.Event()
    task = asyncio.create_task(wait_here(event), name="the-waiter")
    await asyncio.sleep(0.05)
    print("ready", flush=True)
    await asyncio.sleep(60)
    event.set()
    await task


async def late():
    from stackwatch import monitor

    monitor.start(max_blocking_time=0.1, asyncio=True)
    time.sleep(0.6)  # late-block


if __name__ == "__main__":
    if sys.argv[1] == "modules":
        modules(sys.argv[2])
    else:
        import asyncio

        asyncio.run(serve() if sys.argv[1] == "serve" else late())
