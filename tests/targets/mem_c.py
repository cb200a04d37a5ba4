"""Memory taken from the C library directly, by C code loaded before and
after enable() (tests/helpers/memc_lib.c, built by the test), under
stackwatch.MemoryProfiler(DIR, profile=PROFILE, stacks=True).

argv: DIR PROFILE LIB_BEFORE LIB_AFTER LIB_LATE.  Threads:
- cgrab: through LIB_BEFORE (loaded before enable()): malloc 30 x 1 MiB
  (10 freed), calloc 2 MiB, realloc 1 -> 3 MiB, 1 MiB realloc'ed to 0
  (freed), posix_memalign 4 x 1 MiB, mmap 2 x 4 MiB (one unmapped);
- cdlopen: loads LIB_AFTER (dlopen after enable()), malloc 12 x 1 MiB;
- pyonly: 20 MiB of Python bytes objects, nothing from C code;
- csqlite: 16 MiB of blobs in an in-memory sqlite3 database (libsqlite3
  takes its pages with malloc).
After disable(): more calls through both libraries, blocks of the profile
freed, LIB_LATE loaded and used; prints JSON (malloc's address as the
library's GOT holds it during and after the profile, libc's, the
profiler's stats)."""
import ctypes
import json
import sqlite3
import sys
import threading

import stackwatch

MiB = 1024 * 1024
out_dir, profile, before, after, late = sys.argv[1:6]


def load(path):
    lib = ctypes.CDLL(path)
    for name in ("grab", "grab_zeroed", "grab_aligned", "grab_mapped",
                 "malloc_address"):
        getattr(lib, name).restype = ctypes.c_void_p
    lib.grab.argtypes = lib.grab_zeroed.argtypes = [ctypes.c_size_t]
    lib.grab_aligned.argtypes = lib.grab_mapped.argtypes = [ctypes.c_size_t]
    lib.grow.restype = lib.shrink_to_nothing.restype = ctypes.c_void_p
    lib.shrink_to_nothing.argtypes = [ctypes.c_void_p]
    lib.grow.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.drop.argtypes = [ctypes.c_void_p]
    lib.drop_mapped.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return lib


lib_before = load(before)
kept = {}


def grab_c_memory():
    blocks = [lib_before.grab(MiB) for _ in range(30)]
    for p in blocks[:10]:
        lib_before.drop(p)
    kept["malloc"] = blocks[10:]
    kept["calloc"] = lib_before.grab_zeroed(2 * MiB)
    kept["realloc"] = lib_before.grow(lib_before.grab(MiB), 3 * MiB)
    assert lib_before.shrink_to_nothing(lib_before.grab(MiB)) is None
    kept["aligned"] = [lib_before.grab_aligned(MiB) for _ in range(4)]
    maps = [lib_before.grab_mapped(4 * MiB) for _ in range(2)]
    assert lib_before.drop_mapped(maps[0], 4 * MiB) == 0
    kept["map"] = maps[1]


def grab_after_dlopen():
    kept["after"] = load(after)
    kept["after_blocks"] = [kept["after"].grab(MiB) for _ in range(12)]


def sqlite_pages():
    db = sqlite3.connect(":memory:")
    db.execute("create table t (b blob)")
    db.executemany("insert into t values (?)",
                   ((bytes(4096),) for _ in range(16 * MiB // 4096)))
    db.commit()
    kept["db"] = db


def python_only():
    kept["py"] = [bytes(4096) for _ in range(20 * MiB // 4096)]


prof = stackwatch.MemoryProfiler(out_dir, profile=profile, stacks=True)
prof.enable()
during = lib_before.malloc_address()
threads = [threading.Thread(target=grab_c_memory, name="cgrab"),
           threading.Thread(target=grab_after_dlopen, name="cdlopen"),
           threading.Thread(target=python_only, name="pyonly"),
           threading.Thread(target=sqlite_pages, name="csqlite")]
for t in threads:
    t.start()
for t in threads:
    t.join()
stats_during = prof.stats()
prof.disable()
stats_after = prof.stats()

# After disable(): the GOTs are back, every call goes straight to libc.
libc = ctypes.CDLL(None)
for p in kept["malloc"] + kept["aligned"] + kept["after_blocks"]:
    lib_before.drop(p)
lib_before.drop(kept["calloc"])
lib_before.drop(kept["realloc"])
lib_before.drop_mapped(kept["map"], 4 * MiB)
lib_late = load(late)
for _ in range(100):
    lib_late.drop(lib_late.grab(MiB))
    lib_before.drop(lib_before.grab(MiB))
print(json.dumps({
    "during": during,
    "after": lib_before.malloc_address(),
    "after_dlopen": kept["after"].malloc_address(),
    "late": lib_late.malloc_address(),
    "libc": ctypes.cast(libc.malloc, ctypes.c_void_p).value,
    "stats_during": stats_during,
    "stats_after": stats_after,
}))
