"""A multiprocessing.Pool with the fork start method, 2 workers running
pool_task() (busy 0.1 s each) 16 times; argv[1] says how the pool ends:
"with" (the with statement: terminate(), SIGTERM to the workers) or
"join" (close() and join(): the workers end on their own, through
os._exit). Prints the workers' pids, one line.

The test expects one profile with pool_task under the workers'
"process <pid>" roots, beside the parent's own stacks.
"""
import multiprocessing
import os
import sys
import time


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def pool_task(i):
    busy(0.1)
    return os.getpid()


if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    if sys.argv[1] == "with":
        with ctx.Pool(2) as pool:
            pids = set(pool.map(pool_task, range(16), chunksize=1))
    else:
        pool = ctx.Pool(2)
        pids = set(pool.map(pool_task, range(16), chunksize=1))
        pool.close()
        pool.join()
    print(" ".join(str(p) for p in sorted(pids)), flush=True)
