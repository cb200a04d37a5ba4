"""Serves the HTTP endpoint on a free loopback port with
stackwatch.MemoryProfiler running (profile under argv[1]); a thread
'big' holds 64 MiB of Python objects.  Prints "ready ADDRESS TID" (TID:
big's native id) and waits (the test kills it).

tests/test_http.py expects /metrics to show big's live bytes under its
native id, accepted by promtool.

argv: DIR [greenlets]: greenlets=True, and big allocates inside a
greenlet of its own (kept alive)."""

import sys
import threading
import time

import stackwatch

MiB = 1 << 20
held = threading.Event()


GREENLETS = sys.argv[2:] == ["greenlets"]


def big():
    if GREENLETS:
        import greenlet

        g = greenlet.greenlet(lambda: [b"b" * MiB for _ in range(64)])
        blocks = g.switch()
    else:
        blocks = [b"b" * MiB for _ in range(64)]
    held.set()
    time.sleep(600)
    del blocks


prof = stackwatch.MemoryProfiler(sys.argv[1], greenlets=GREENLETS)
prof.enable()
server = stackwatch.serve("127.0.0.1:0", quiet=True)
t = threading.Thread(target=big, name="big", daemon=True)
t.start()
held.wait()
print("ready", server.address, t.native_id, flush=True)
time.sleep(600)
