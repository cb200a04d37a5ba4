"""A multiprocessing.Pool of 4 (the start method in argv[1], else the
platform's default) running tree_task() (busy 0.1 s each) 24 times with
close() and join(); prints the workers' pids on one line, then its own.

test_tree.py records it with `record --subprocesses` and expects 5
processes with "fork" (this one and the 4 workers), tree_task under each
worker; with the default (forkserver from 3.14 on Linux) also the
forkserver and resource tracker processes multiprocessing starts.
"""
import multiprocessing
import os
import time


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def tree_task(i):
    busy(0.1)
    return os.getpid()


if __name__ == "__main__":
    import sys

    ctx = multiprocessing.get_context(sys.argv[1] if len(sys.argv) > 1
                                      else None)
    pool = ctx.Pool(4)
    pids = set(pool.map(tree_task, range(24), chunksize=1))
    pool.close()
    pool.join()
    print(" ".join(str(p) for p in sorted(pids)), flush=True)
    print(os.getpid(), flush=True)
