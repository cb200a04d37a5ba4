"""A profiled parent forks a child that keeps 20 MiB made in a thread
"child-worker" and exits normally; the parent keeps 10 MiB in
"parent-worker" after the child ended. Prints {"parent": pid, "child":
pid}.

argv: DIR follow|nofollow."""
import json
import os
import sys
import threading

import stackwatch

kept = []


def work(mib):
    kept.extend(bytes(4096) for _ in range(mib * 256))


prof = stackwatch.MemoryProfiler(sys.argv[1], stacks=True,
                                 follow_fork=sys.argv[2] == "follow")
prof.enable()
pid = os.fork()
if pid == 0:
    t = threading.Thread(target=work, args=(20,), name="child-worker")
    t.start()
    t.join()
    sys.exit(0)  # the interpreter's exit ends the child's files
_, status = os.waitpid(pid, 0)
assert status == 0, status
t = threading.Thread(target=work, args=(10,), name="parent-worker")
t.start()
t.join()
prof.disable()
print(json.dumps({"parent": os.getpid(), "child": pid}))
