"""A multiprocessing.Pool of 4 with the start method in argv[1] (spawn or
forkserver), left through its `with` statement, which ends the workers
with terminate() (SIGTERM) as soon as the work is done. Each of the 4
tasks waits on a barrier of 4 (so each worker runs exactly one), then
runs pool_terminate_task() (busy 0.2 s). Prints the workers' pids on one
line, then its own.

test_tree.py records it with `record --subprocesses` a few times in a
row and expects every worker in each profile, pool_terminate_task under
it, though none of them ends by itself.
"""
import multiprocessing
import os
import sys
import time

barrier = None


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def init(b):
    global barrier
    barrier = b


def pool_terminate_task(i):
    barrier.wait(60)
    busy(0.2)
    return os.getpid()


if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(4, initializer=init, initargs=(ctx.Barrier(4),)) as pool:
        pids = set(pool.map(pool_terminate_task, range(4), chunksize=1))
    print(" ".join(str(p) for p in sorted(pids)), flush=True)
    print(os.getpid(), flush=True)
