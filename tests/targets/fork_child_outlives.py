"""Forks a child that outlives its parent: the parent works in
parent_work() for 0.3 s and exits without waiting; the child works in
child_work() for 1 s after its parent has gone, then exits normally.
Prints the child's pid.

The test expects the parent's profile at -o's path with parent_work only,
and the child's own profile next to it (out.<pid>.ext), never the
parent's file replaced.
"""
import os
import sys
import time


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def parent_work():
    busy(0.3)


def child_work():
    # Until the parent has ended (it writes its profile then), and 1 s.
    while os.getppid() == parent:
        busy(0.01)
    busy(1.0)


parent = os.getpid()
pid = os.fork()
if pid == 0:
    child_work()
    sys.exit(0)
print(pid, flush=True)
parent_work()
