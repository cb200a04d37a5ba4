"""gevent greenlets under stackwatch.MemoryProfiler(argv[1],
greenlets=...): "hog" allocates 50 MiB of Python objects and keeps them
(alive until the profile ends); "churn" (two of them) allocates and frees
2 MiB twelve times; "leaver" allocates 8 MiB, leaves them in a global and
ends (the greenlet is freed), after which the main greenlet frees them.
Prints {"pid": pid} (and "child" with fork).

argv: DIR on|off [fork]. on: greenlets=True; off: greenlets=False; fork:
the profile follows forks, and a child forked with gevent.fork() runs a
greenlet "kid" that keeps 10 MiB until the child exits."""
import gc
import json
import os
import sys

import gevent
import gevent.event

import stackwatch

CHUNK = 4096
MiB = 1024 * 1024
kept = []
left = []
done = gevent.event.Event()


def hog():
    kept.extend(bytes(CHUNK) for _ in range(50 * MiB // CHUNK))
    done.wait()


def churn():
    for _ in range(12):
        blocks = [bytes(CHUNK) for _ in range(2 * MiB // CHUNK)]
        gevent.sleep(0.02)
        del blocks
        gevent.sleep(0.02)


def leaver():
    left.extend(bytes(CHUNK) for _ in range(8 * MiB // CHUNK))
    gevent.sleep(0.4)  # long enough for a file and a label of its own


def kid():
    kept.extend(bytes(CHUNK) for _ in range(10 * MiB // CHUNK))
    gevent.sleep(0.3)


fork = len(sys.argv) > 3 and sys.argv[3] == "fork"
prof = stackwatch.MemoryProfiler(sys.argv[1], greenlets=sys.argv[2] == "on",
                                 follow_fork=fork)
prof.enable()
out = {"pid": os.getpid()}
if fork:
    pid = gevent.fork()
    if pid == 0:
        kept.clear()
        gevent.spawn(kid).join()
        sys.exit(0)  # the interpreter's exit ends the child's files
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    out["child"] = pid
g_hog = gevent.spawn(hog)
g_churn = [gevent.spawn(churn), gevent.spawn(churn)]
g_leaver = gevent.spawn(leaver)
g_leaver.join()
del g_leaver
gc.collect()
gevent.sleep(0.2)  # the leaver's file ends
del left[:]  # its memory freed by the main greenlet
gevent.joinall(g_churn)
gevent.sleep(0.1)
prof.disable()  # the hog still alive: its 50 MiB live in its last line
done.set()
g_hog.join()
print(json.dumps(out), flush=True)
