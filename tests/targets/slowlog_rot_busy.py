"""Sleeps in a few nested calls for the seconds given (argv[1]), each
frame with locals worth logging, so that `stackwatch run --interval 0.05
--log-max 8K` writes several snapshots (a few KB each) and has to rotate
its log (tests/test_slowlog_rotation.py)."""
import sys
import time


def level(n, until):
    payload = "x" * 200 + str(n)  # some bulk in every snapshot
    if n:
        return level(n - 1, until)
    while time.monotonic() < until:
        time.sleep(0.01)
    return len(payload)


level(8, time.monotonic() + float(sys.argv[1]))
print("done")
