"""Forks while traced, in one of these ways (argv[1]):

- "pool": a multiprocessing Pool of 2 (fork start method) squares 40
  numbers (its workers end with os._exit, after their finalizers);
- "killed": a child that never ends is SIGKILLed, another exits
  normally;
- "nested": a child that forks a grandchild, both exit normally;
- "api OUT": the program traces itself with stackwatch.Tracer(OUT)
  (follow_fork not given) and forks a child.

Every child runs child_work; the parent runs parent_work after its
children have ended.  Prints "done"."""

import os
import signal
import sys
import time


def child_work():
    return sum(range(1000))


def grandchild_work():
    return sum(range(1000))


def parent_work():
    return sum(range(1000))


def square(x):
    child_work()
    time.sleep(0.01)  # (both workers get some)
    return x * x


def forked(body):
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            # (Normal exit: the interpreter's atexit runs.)
            sys.exit(0)
    return pid


def main(mode):
    if mode == "pool":
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            assert pool.map(square, range(40), chunksize=1) == [x * x for x in range(40)]
            pool.close()
            pool.join()
    elif mode == "killed":
        ends = forked(child_work)
        hangs = forked(lambda: time.sleep(3600))
        os.waitpid(ends, 0)
        time.sleep(0.2)
        os.kill(hangs, signal.SIGKILL)
        os.waitpid(hangs, 0)
    elif mode == "nested":
        def child():
            child_work()
            os.waitpid(forked(grandchild_work), 0)

        os.waitpid(forked(child), 0)
    elif mode == "api":
        import stackwatch

        with stackwatch.Tracer(sys.argv[2]):
            os.waitpid(forked(child_work), 0)
            parent_work()
        print("done")
        return
    parent_work()
    print("done")


main(sys.argv[1])
