"""Pymalloc's arenas filled and freed again and again, each round at new
addresses: ROUNDS times, about 32 MiB of small objects are made (whole
arenas of them) and dropped (the arenas go back to the system), and the
address space they used is then reserved (mmap with the old address as a
hint, PROT_NONE, no memory), so that the next round's arenas are mapped
elsewhere. Under stackwatch.MemoryProfiler(argv[1], profile="python").
Prints one JSON object: the side table's resident bytes after each round,
the profiler's arena counters, and how many of each round's 256 KiB
blocks of address space an earlier round had used.

argv: DIR HOOK. HOOK "off": the profile does not hook pymalloc's arena
allocator (the profiler as it was before it did), to show what the
workload does to the table without it."""
import ctypes
import json
import mmap
import sys

import stackwatch
from stackwatch import _native

ROUNDS = 8
COUNT = 32 * 1024 * 1024 // 144  # bytes(100) takes a 144-byte block
BLOCK = 256 * 1024

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)
FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE


def reserve(block):
    """Maps [block, block + BLOCK) when it is free (nothing else there)."""
    addr = block * BLOCK
    got = libc.mmap(addr, BLOCK, mmap.PROT_NONE if hasattr(
        mmap, "PROT_NONE") else 0, FLAGS, -1, 0)
    if got is not None and got != addr and got != 2**64 - 1:
        libc.munmap(got, BLOCK)  # the kernel put it elsewhere: not wanted
        return 0
    return 1 if got == addr else 0


if hasattr(_native, "_test_mem_arena_hook"):  # (absent before the fix)
    _native._test_mem_arena_hook(sys.argv[2] != "off")
prof = stackwatch.MemoryProfiler(sys.argv[1], profile="python")
prof.enable()
used = set()
out = {"table": [], "reused": [], "reserved": 0}
for r in range(ROUNDS):
    objs = [bytes(100) for _ in range(COUNT)]
    blocks = {id(o) // BLOCK for o in objs}
    out["reused"].append(len(blocks & used) / len(blocks))
    used |= blocks
    del objs
    out["table"].append(prof.stats()["table_bytes"])
    for b in sorted(blocks):
        out["reserved"] += reserve(b)
st = prof.stats()
prof.disable()
out["arenas_freed"] = st.get("arenas_freed", 0)
out["table_given"] = st.get("table_given", 0)
out["arena_hooked"] = st.get("arena_hooked", 0)
print(json.dumps(out))
