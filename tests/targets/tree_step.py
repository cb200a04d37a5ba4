"""One step of a shell script (tree_twice.sh runs it twice): busy in
step_work() for argv[1] seconds, prints its pid.

test_tree.py expects each run as a process of its own in the profile,
step_work under it.
"""
import os
import sys
import time


def step_work(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


if __name__ == "__main__":
    step_work(float(sys.argv[1]))
    print(os.getpid(), flush=True)
