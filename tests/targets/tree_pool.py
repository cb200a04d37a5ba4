"""A multiprocessing.Pool of 4 (the platform's default start method)
running tree_task() (busy 0.1 s each) 24 times with close() and join();
prints the workers' pids, one line.

test_tree.py records it with `record --subprocesses` and expects 5
processes (this one and the 4 workers), tree_task under each worker.
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
    pool = multiprocessing.Pool(4)
    pids = set(pool.map(tree_task, range(24), chunksize=1))
    pool.close()
    pool.join()
    print(" ".join(str(p) for p in sorted(pids)), flush=True)
