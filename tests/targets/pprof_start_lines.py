"""Spends about 0.6 s in functions whose first lines the tests know
(`# def-...` tags): a method whose sampled line is far below its `def`,
and two module-level functions both named `twin` in this one file (the
second `def` rebinds the name; the first is kept as `first_twin`), each
running its own loop.

With argv[1] a path, profiles itself with stackwatch.Profiler and writes
the profile there as pprof; with no argument it only runs (for
`stackwatch record -f pprof`); with "--fork", a forked child runs (and
ends normally) while the parent waits for it: the functions are in the
child's samples only.

The tests expect every function's start line in the pprof to be its
`def` line (co_firstlineno), and the two `twin`s to stay two
functions.
"""
import os
import sys
import time

import stackwatch


class Worker:
    def spin_method(self, seconds):  # def-spin-method
        """A docstring, and lines, between the def and the loop."""
        end = time.monotonic() + seconds
        x = 0
        while time.monotonic() < end:
            x += 1  # spin-method-loop
        return x


def twin(seconds):  # def-twin-first
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


first_twin = twin


def twin(seconds):  # noqa: F811  # def-twin-second
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1


def main():  # def-main
    for _ in range(3):
        Worker().spin_method(0.1)
        first_twin(0.05)
        twin(0.05)


if sys.argv[1:] == ["--fork"]:
    pid = os.fork()
    if pid == 0:
        main()
        sys.exit(0)
    os.waitpid(pid, 0)
elif len(sys.argv) > 1:
    prof = stackwatch.Profiler(rate=200)
    prof.start()
    main()
    prof.stop()
    prof.write(sys.argv[1], "pprof")
else:
    main()
