"""A program that never heard of stackwatch, for `record --pid` read from
outside: runs on any CPython 3.9-3.15, prints "ready", then spins in a
pure-Python loop in spin_here() for argv[1] seconds (default 60) and
exits with status 0."""
import sys
import time


def spin_here(seconds):
    print("ready", flush=True)
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        for i in range(1000):
            total += i * i  # outside-spin
    return total


spin_here(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
