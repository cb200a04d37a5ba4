"""One thread allocating through PyMem_RawMalloc across two profiles in a
row (the same thread: whatever it remembers of the first profile must not
be used in the second). Blocks of 64 KiB, enough of them to span dozens
of 1 MiB regions. Profile 1 (argv[1]): "worker" allocates 600 blocks and
frees the last 100 of them. Profile 2 (argv[2]): it allocates a block of
1 MiB and 200 of 64 KiB, frees the 500 left from profile 1 (not this
profile's: not counted), frees 150 of the new ones and the big one, and
hands the other 50 to the main thread, which frees them (counted as the
worker's). With argv[3] == "stacks", stacks are sampled too (every 256
KiB), so that sampled blocks mix with the others."""
import ctypes
import queue
import sys
import threading

import stackwatch

lib = ctypes.CDLL(None)
malloc = lib.PyMem_RawMalloc
malloc.restype = ctypes.c_void_p
malloc.argtypes = [ctypes.c_size_t]
free = lib.PyMem_RawFree
free.restype = None
free.argtypes = [ctypes.c_void_p]

SIZE = 65536
todo = queue.Queue()
done = queue.Queue()
old = []


def worker():
    while True:
        step = todo.get()
        if step is None:
            return
        if step == 1:
            blocks = [malloc(SIZE) for _ in range(600)]
            # The last ones, from the top down: the regions the thread
            # used last are where the allocator gives the next blocks.
            for p in reversed(blocks[500:]):
                free(p)
            old.extend(blocks[:500])
            done.put(None)
        elif step == 2:
            # First a block too big for the granule map (the side table's
            # hash table takes it), so that the next ones are the first
            # this thread puts in the map in this profile.
            big = malloc(1 << 20)
            blocks = [malloc(SIZE) for _ in range(200)]
            for p in old:
                free(p)
            for p in blocks[50:]:
                free(p)
            free(big)
            # The first ones (in the room freed in profile 1) to another
            # thread, which looks them up from scratch.
            done.put(blocks[:50])


stacks = len(sys.argv) > 3 and sys.argv[3] == "stacks"
t = threading.Thread(target=worker, name="worker")
t.start()
for step, path in ((1, sys.argv[1]), (2, sys.argv[2])):
    prof = stackwatch.MemoryProfiler(path, profile="python", stacks=stacks,
                                     sample_interval=262144)
    prof.enable()
    todo.put(step)
    handed = done.get()
    if handed:
        for p in handed:
            free(p)
    prof.disable()
todo.put(None)
t.join()
print("ok")
