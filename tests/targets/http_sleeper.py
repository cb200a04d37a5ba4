"""Prints "ready" and sleeps in a function of its own (sleeper_wait) for
argv[1] seconds (default 60), never importing stackwatch itself.

Run with STACKWATCH_HTTP (the autostart) or under `stackwatch record/run
--http`: the tests read the address from stderr's "serving" line and
expect sleeper_wait in /threads.
"""
import sys
import time


def sleeper_wait(seconds):
    time.sleep(seconds)  # http-sleep


print("ready", flush=True)
sleeper_wait(float(sys.argv[1]) if len(sys.argv) > 1 else 60)
