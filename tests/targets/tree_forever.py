"""Starts a child Python process (itself with "child") and both spin in
spin_forever() until interrupted; prints "ready <pid>" once each is
spinning. The child prints its pid.

test_tree.py sends Ctrl-C (SIGINT) to `record -- python tree_forever.py`
and expects the profile written with both processes in it.
"""
import os
import subprocess
import sys
import time


def spin_forever():
    while True:
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            pass


if __name__ == "__main__":
    child = None
    if sys.argv[1:] != ["child"]:
        child = subprocess.Popen([sys.executable, __file__, "child"])
    print("ready %d" % os.getpid(), flush=True)
    try:
        spin_forever()
    except KeyboardInterrupt:
        if child is not None:
            child.wait()
        sys.exit(0)
