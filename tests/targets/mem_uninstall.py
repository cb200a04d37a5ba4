"""The memory profiler and the allocators around it. Prints one JSON
object with what it saw.

argv: DIR MODE. MODE "under": tracemalloc runs before enable() (ours goes
in front of it, and back out exactly); "over": tracemalloc starts while
the profile runs (on top of ours), and a second profile runs after."""
import json
import sys
import tracemalloc

import stackwatch
from stackwatch import _native

CHUNK = 4096
mode = sys.argv[2]
out = {}
if mode == "under":
    tracemalloc.start()
out["before"] = _native._test_mem_allocators()
early = [bytes(CHUNK) for _ in range(2560)]  # 10 MiB before enable()
prof = stackwatch.MemoryProfiler(sys.argv[1])
prof.enable()
out["during"] = _native._test_mem_allocators()
if mode == "over":
    tracemalloc.start()
del early[:]  # freed during the profile: was never counted
during = [bytes(CHUNK) for _ in range(1280)]  # 5 MiB
prof.disable()
out["after"] = _native._test_mem_allocators()
out["stats"] = prof.stats()
del during[:]  # allocated during the profile, freed after: theirs again
traced = tracemalloc.get_traced_memory()[0]
grown = [bytes(CHUNK) for _ in range(256)]
out["tracemalloc_grew"] = tracemalloc.get_traced_memory()[0] - traced
if mode == "over":
    second = stackwatch.MemoryProfiler(sys.argv[1] + "/second")
    second.enable()
    out["second_during"] = _native._test_mem_allocators()
    again = [bytes(CHUNK) for _ in range(256)]  # 1 MiB
    second.disable()
    out["second_after"] = _native._test_mem_allocators()
    out["second_dir"] = second.directory
print(json.dumps(out))
