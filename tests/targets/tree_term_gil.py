"""Spins in pure Python (spin_before, 3 s: parts are handed over every
second, so at least one is, even when start-up was slow),
prints "ready PID", then holds the GIL in one C call for good
(sum over a huge range, which never looks at signals).

test_tree.py records it with `record -- python tree_term_gil.py` and
sends it SIGTERM during the C call: the process must end (SIGTERM's
default action would end it at once) and keep its part.
"""
import os
import time


def spin_before(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


spin_before(3.0)
print("ready", os.getpid(), flush=True)
sum(range(10 ** 15))
