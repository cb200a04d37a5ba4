"""Two threads under stackwatch.MemoryProfiler (stacks on): 'big' holds
100 MiB of Python objects, 'small' 10 MiB, for half a second, then both
let them go. Prints the profile directory (argv[1]/<pid>) last.
For tests/test_mem_readers.py::test_engine_profile_read_by_the_readers."""

import os
import sys
import threading
import time

import stackwatch

MiB = 1 << 20
held = threading.Barrier(3)
release = threading.Event()


def fill_big():
    return [b"b" * MiB for _ in range(100)]


def fill_small():
    return [b"s" * MiB for _ in range(10)]


def work(fill):
    blocks = fill()
    held.wait()
    release.wait()
    del blocks


def main():
    prof = stackwatch.MemoryProfiler(sys.argv[1], stacks=True)
    prof.enable()
    threads = [threading.Thread(target=work, args=(fill_big,), name="big"),
               threading.Thread(target=work, args=(fill_small,),
                                name="small")]
    for t in threads:
        t.start()
    held.wait()
    time.sleep(0.5)
    release.set()
    for t in threads:
        t.join()
    time.sleep(0.2)
    prof.disable()
    print(os.path.join(sys.argv[1], str(os.getpid())))


if __name__ == "__main__":
    main()
