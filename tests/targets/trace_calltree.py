"""A known call tree for the tracer: recursion, a generator driven
through `yield from`, an exception unwinding three frames, a coroutine
awaiting another.  tests/test_trace.py expects exactly its slices.
An argument "exit" ends it with sys.exit deep in a call, "interrupt"
with SIGINT (Ctrl-C) there."""

import os
import signal
import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def gen(n):
    for i in range(n):
        yield i


def outer_gen():
    yield from gen(2)


def fail_deep(n):
    if n == 0:
        raise ValueError("deep")
    fail_deep(n - 1)


def catch():
    try:
        fail_deep(2)
    except ValueError:
        pass


async def leaf():
    return 1


async def coro():
    await leaf()
    return await leaf()


def run_coro():
    c = coro()
    try:
        c.send(None)
    except StopIteration:
        pass


def end(how):
    if how == "exit":
        sys.exit(3)
    if how == "interrupt":
        os.kill(os.getpid(), signal.SIGINT)


def main():
    fib(3)
    list(outer_gen())
    catch()
    run_coro()
    if len(sys.argv) > 1:
        end(sys.argv[1])


main()
