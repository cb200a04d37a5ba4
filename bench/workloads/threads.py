"""Multi-threaded workload: four Python threads contending for the GIL,
plus one thread in a C call that releases it.

The four workers run pure-Python loops, so at any moment one of them holds
the GIL and three wait for it.  The fifth thread hashes large buffers with
hashlib (which releases the GIL for inputs this size) and compresses with
zlib (which releases it too), so it runs in parallel on the other core.
The main thread starts them all and waits.
"""

import hashlib
import threading
import zlib


def python_work(n):
    acc = {}
    for i in range(n):
        key = i % 101
        acc[key] = acc.get(key, 0) + (i ^ key)
    return acc


def native_work(rounds):
    data = bytes(range(256)) * 16384  # 4 MiB
    for _ in range(rounds):
        hashlib.sha256(data).digest()
        zlib.compress(data, 1)


def run(n, rounds):
    threads = [threading.Thread(target=python_work, args=(n,))
               for _ in range(4)]
    threads.append(threading.Thread(target=native_work, args=(rounds,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    run(1_700_000, 30)


def unit():
    """A hundredth of main() (~14 ms) for bench/paired.py: the five
    threads are started anew each time."""
    run(17_000, 1)


if __name__ == "__main__":
    main()
