"""Profiles process argv[1] from outside until Ctrl-C
(stackwatch._outside.record with no duration), then writes the profile,
collapsed, to argv[2] and prints "interrupted <bool> exited <bool>".
A thread prints "recording" once the main thread is inside record():
the test sends SIGINT after it.
"""
import sys
import threading
import time

from stackwatch import _outside


def announce():
    time.sleep(0.5)
    print("recording", flush=True)


threading.Thread(target=announce, daemon=True).start()
rec = _outside.record(int(sys.argv[1]), 0, rate=100)
with open(sys.argv[2], "wb") as f:
    f.write(rec.render("collapsed"))
print("interrupted %s exited %s" % (rec.interrupted, rec.exited), flush=True)
