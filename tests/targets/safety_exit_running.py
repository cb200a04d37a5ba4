"""Ends, in the way argv[1] says, with everything running: a busy daemon
thread, dumps enabled, a 1 kHz profiler (greenlets on). argv[1]:
- "pass": falls off the end (status 0);
- "exit7": sys.exit(7);
- "raise": raise ValueError("boom") (status 1, traceback);
- "_exit5": os._exit(5);
- "thread_exit": a thread calls sys.exit(0), then the end (status 0).

The test expects that status, no "Fatal Python error", and for "raise"
the traceback ending with "ValueError: boom".
"""
import os
import sys
import threading
import time

import stackwatch


def busy():
    x = 0
    while True:
        x += 1


threading.Thread(target=busy, daemon=True).start()
stackwatch.enable_dump()
p = stackwatch.Profiler(rate=1000, greenlets=True)
p.start()
time.sleep(0.3)
how = sys.argv[1]
if how == "exit7":
    sys.exit(7)
elif how == "raise":
    raise ValueError("boom")
elif how == "_exit5":
    os._exit(5)
elif how == "thread_exit":
    threading.Thread(target=lambda: sys.exit(0)).start()
else:
    assert how == "pass", how
