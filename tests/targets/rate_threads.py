"""A busy multi-threaded target for tests/test_rate.py: three threads
make Python calls without pause (the GIL passes between them, and their
stacks change under the sampler), a fourth hashes in C with the GIL
released (it runs beside them), and the main thread waits.  Once all
four run, a profiler samples at argv[1] Hz (default 200) for argv[2]
seconds (default 2); then the threads stop and it prints its stats and
each thread's sample count as JSON."""

import hashlib
import json
import sys
import threading
import time

import stackwatch

RATE = float(sys.argv[1]) if len(sys.argv) > 1 else 200.0
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
running = threading.Barrier(5)
done = threading.Event()


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def calls():
    running.wait()
    while not done.is_set():
        fib(15)


def hashing():
    data = bytes(range(256)) * 4096  # 1 MiB: sha256 releases the GIL
    running.wait()
    while not done.is_set():
        hashlib.sha256(data).digest()


def main():
    threads = [threading.Thread(target=calls, name="calls-%d" % i)
               for i in range(3)]
    threads.append(threading.Thread(target=hashing, name="hashing"))
    for t in threads:
        t.start()
    running.wait()
    prof = stackwatch.Profiler(rate=RATE)
    prof.start()
    time.sleep(SECONDS)
    prof.stop()
    done.set()
    for t in threads:
        t.join()
    counts = {}
    for s in prof.samples():
        counts[s.thread] = counts.get(s.thread, 0) + s.count
    print(json.dumps({"stats": prof.stats(), "counts": counts}))


main()
