"""Enables dumps, prints "ready" and waits 60 s in serve(port, api_key),
the key taken from $THE_KEY, with a local connections list.

The test expects `stackwatch dump --locals` (text and JSON) to show serve
with its arguments and locals, the key redacted.
"""
import os
import time

import stackwatch

stackwatch.enable_dump()


def serve(port, api_key):
    connections = ["c1", "c2"]  # shown in the dump
    assert connections
    print("ready", flush=True)
    time.sleep(60)  # serve-sleep


serve(8080, os.environ["THE_KEY"])
