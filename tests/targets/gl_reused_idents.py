"""Spawns four gevent greenlets one after the other, each running
spin() for 0.4 s of CPU and gone before the next is spawned, so gevent
gives each the minimal_ident and name (Greenlet-0) of the one before.
Prints their names. tests/test_greenlet_labels.py records it with
--greenlets=each: every greenlet must have its own label."""
import time

import gevent


def spin():
    end = time.perf_counter() + 0.4
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def one():
    g = gevent.spawn(spin)
    g.join()
    return g.name  # then g is gone, and its ident free again


print(" ".join(one() for _ in range(4)))
