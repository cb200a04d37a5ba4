"""Enables dumps, prints "ready" and gets stuck in a C call that holds the
GIL (helpers/stuck.py). With argv[1] == "idle", first starts a thread
named "idle-thread" and waits 1 s so that the service knows its name.
STACKWATCH_DUMP_GIL_WAIT may shorten the GIL side's wait.

The tests expect `stackwatch dump` (and --json, --locals) to answer at
once with the stacks read without the GIL (match < stuck_in_c), say the
GIL side could not answer, and leave the process stuck.
"""
import sys
import threading
import time

import stackwatch
from stuck import stuck_in_c

stackwatch.enable_dump()
if sys.argv[1:] == ["idle"]:
    def idle():
        time.sleep(60)
    threading.Thread(target=idle, name="idle-thread", daemon=True).start()
    time.sleep(1)  # the service refreshes thread names twice a second
else:
    time.sleep(0.6)  # names refreshed
print("ready", flush=True)
stuck_in_c()
