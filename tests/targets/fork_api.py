"""The Python API in a program that forks: a Profiler (collapsed output
to argv[1]) samples while the program forks a child that works in
child_work() for 0.3 s and ends normally; the parent waits for it, works
in parent_work() for 0.3 s, stops and writes. Then, profiler stopped, a
second child calls write(argv[1]) itself and exits. Prints the first
child's pid.

The test expects argv[1] to hold both processes' samples under
"process <pid>" roots, written once by the parent, and no file of the
second child's (it sampled nothing).
"""
import os
import sys
import time

import stackwatch


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def child_work():
    busy(0.3)


def parent_work():
    busy(0.3)


out = sys.argv[1]
prof = stackwatch.Profiler(rate=200)
with prof:
    pid = os.fork()
    if pid == 0:
        child_work()
        sys.exit(0)
    print(pid, flush=True)
    os.waitpid(pid, 0)
    parent_work()
prof.write(out)
st = os.stat(out)
second = os.fork()
if second == 0:
    prof.write(out)
    sys.exit(0)
os.waitpid(second, 0)
assert os.stat(out).st_mtime_ns == st.st_mtime_ns, "the child wrote out"
