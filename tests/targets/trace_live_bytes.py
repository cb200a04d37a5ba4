"""A thread named "allocator" allocates ~50 MiB, holds it ~0.3 s and
frees it, while the main thread waits; for `stackwatch trace --memory`:
the allocator's live bytes counter track rises by about 50 MiB, the main
thread's does not. Prints "done". With argv[1] == "profiler", a
MemoryProfiler of the program's own runs meanwhile (into argv[2]): the
trace reads its counters."""

import sys
import threading
import time


def allocate():
    time.sleep(0.05)  # its track starts near 0
    blocks = [bytearray(1 << 20) for _ in range(50)]  # 50 MiB, touched
    time.sleep(0.3)
    del blocks[:]
    time.sleep(0.1)


def main():
    t = threading.Thread(target=allocate, name="allocator")
    t.start()
    t.join()
    time.sleep(0.05)


if sys.argv[1:2] == ["profiler"]:
    import stackwatch.memory

    with stackwatch.memory.MemoryProfiler(sys.argv[2]):
        main()
else:
    main()
print("done")
