"""PyMem_RawMalloc/RawFree called without the GIL (ctypes.CDLL releases
it) from four threads at once: two "makers" each allocate 4000 blocks of
5000 bytes (20 MB) and keep half; the other half goes to a "freer" that
frees them, while a "churner" allocates and frees 10000 blocks of 3000
bytes. Under stackwatch.MemoryProfiler(argv[1], stacks=True), with a
sample every 64 KiB (so stacks are taken without the GIL too)."""
import ctypes
import queue
import sys
import threading

import stackwatch

lib = ctypes.CDLL(None)  # this process's symbols; calls release the GIL
malloc = lib.PyMem_RawMalloc
malloc.restype = ctypes.c_void_p
malloc.argtypes = [ctypes.c_size_t]
free = lib.PyMem_RawFree
free.restype = None
free.argtypes = [ctypes.c_void_p]

N, SIZE = 4000, 5000
kept = []
q = queue.Queue()


def maker():
    mine = [malloc(SIZE) for _ in range(N)]
    kept.extend(mine[::2])
    q.put(mine[1::2])


def freer():
    for _ in range(2):
        for p in q.get():
            free(p)


def churner():
    for _ in range(10000):
        free(malloc(3000))


prof = stackwatch.MemoryProfiler(sys.argv[1], stacks=True,
                                 sample_interval=65536)
prof.enable()
threads = [threading.Thread(target=maker, name="maker-1"),
           threading.Thread(target=maker, name="maker-2"),
           threading.Thread(target=freer, name="freer"),
           threading.Thread(target=churner, name="churner")]
for t in threads:
    t.start()
for t in threads:
    t.join()
prof.disable()
for p in kept:
    free(p)  # after the profile: handed back to the allocator untouched
print("ok")
