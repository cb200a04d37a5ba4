"""GIL-held workload: the main thread stuck in one long C call that holds
the GIL (the regex engine backtracking through 2**22 paths, about half a
second), as a server is when a request runs an unlucky regex or a big
sort.

An in-process profiler whose sampling needs the GIL sees nothing until
the call returns; a profiler that reads stacks without it should find
every sample in ``hold``.  bench/run.py counts the samples whose stack
holds ``hold`` against the number the rate asked for over the workload's
time (the "right function" table).
"""

import re

PATTERN = re.compile(r"(a+)+$")


def hold(n=22):
    return PATTERN.match("a" * n + "b")


def main():
    hold()


def unit():
    """A slice of main() (2**16 paths, a few ms) for bench/paired.py."""
    hold(16)


if __name__ == "__main__":
    main()
