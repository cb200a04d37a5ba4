"""Sleeps in short steps in work() for 3 s, then creates the file argv[1]
and exits with status 5.

The test (record -d 1) expects the profile written while the target
still runs, then the target's own exit status.
"""
import sys
import time


def work():
    end = time.monotonic() + 3
    while time.monotonic() < end:
        time.sleep(0.01)


work()
open(sys.argv[1], "w").close()
sys.exit(5)
