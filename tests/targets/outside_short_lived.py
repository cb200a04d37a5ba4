"""A program that did not enable stackwatch and exits on its own while it
is profiled from outside: prints "ready <pid>" from its loop in
busy_until(), runs about a second more, and exits."""
import os
import time


def busy_until(end):
    print("ready %d" % os.getpid(), flush=True)
    while time.monotonic() < end:
        time.sleep(0.001)  # short-lived-loop


busy_until(time.monotonic() + 1.0)
