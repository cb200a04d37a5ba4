"""Forks again and again while a thread takes native dumps, with no
sampler ever started: the dump resolves code objects in the process's
code cache under its lock, so a fork at that moment must not leave the
child a locked cache.  Each child takes a dump of its own (a locked cache
would hang it: an alarm kills it then) and exits 0.

Prints a JSON object: forks, children that exited 0, dumps taken by the
thread, the wait statuses of the others.
"""
import json
import os
import signal
import sys
import threading

import stackwatch

FORKS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
stop = threading.Event()
dumps = [0]


def deep(n):
    if n:
        return deep(n - 1)
    with open(os.devnull, "w") as out:
        stackwatch.dump(file=out)
    return 0


def dumper():
    while not stop.is_set():
        deep(30)
        dumps[0] += 1


# Loaded here, not by the thread's first call: an import in progress at
# fork time is Python's own hazard (module locks), not the one tested.
deep(1)
t = threading.Thread(target=dumper)
t.start()
ok = 0
failed = []
for _ in range(FORKS):
    pid = os.fork()
    if pid == 0:
        signal.alarm(10)
        deep(5)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        ok += 1
    else:
        failed.append(status)
stop.set()
t.join()
print(json.dumps({"forks": FORKS, "ok": ok, "dumps": dumps[0],
                  "failed": failed}))
