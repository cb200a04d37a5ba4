"""The memory profiler's arena hook and another tool's over it. Prints
one JSON object with pymalloc's arena allocator at each step.

A profile hooks the arena allocator; another hook goes on top of it
(_test_arena_wrap) while arenas are freed; disable() must then leave
ours in the chain, passing through, until the other is gone; a second
profile reuses ours (not stacked twice), and its disable() puts the
original back."""
import json
import sys

import stackwatch
from stackwatch import _native

MiB = 1024 * 1024


def churn():
    """Fills and frees some 16 MiB of arenas."""
    objs = [bytes(100) for _ in range(16 * MiB // 144)]
    del objs


out = {"before": _native._test_arena_allocator()}
prof = stackwatch.MemoryProfiler(sys.argv[1], profile="python")
prof.enable()
out["during"] = _native._test_arena_allocator()
_native._test_arena_wrap(True)
churn()
out["wrapped_stats"] = prof.stats()
prof.disable()
out["stopped_under"] = _native._test_arena_allocator()
out["stopped_stats"] = prof.stats()
churn()  # through the other hook, then ours, passing through
out["wrap_frees"] = _native._test_arena_wrap(False)
out["unwrapped"] = _native._test_arena_allocator()
second = stackwatch.MemoryProfiler(sys.argv[1] + "/second",
                                   profile="python")
second.enable()
out["second_during"] = _native._test_arena_allocator()
churn()
out["second_stats"] = second.stats()
second.disable()
out["after"] = _native._test_arena_allocator()
out["after_stats"] = second.stats()
print(json.dumps(out))
