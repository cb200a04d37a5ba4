"""Sampled allocation stacks: the thread "builder" keeps 100 MiB made in
build() and makes 40 MiB in churn() that the thread "eater" frees.
Under stackwatch.MemoryProfiler(argv[1], stacks=True); prints the line
numbers of the two allocating lines."""
import json
import queue
import sys
import threading

import stackwatch

kept = []


def build():
    kept.extend(bytes(4096) for _ in range(100 * 256))  # build


def churn(q):
    q.put([bytes(4096) for _ in range(40 * 256)])  # churn


def builder(q):
    build()  # call-build
    churn(q)


def eater(q):
    blocks = q.get()
    del blocks[:]


prof = stackwatch.MemoryProfiler(sys.argv[1], stacks=True)
prof.enable()
q = queue.Queue()
threads = [threading.Thread(target=builder, args=(q,), name="builder"),
           threading.Thread(target=eater, args=(q,), name="eater")]
for t in threads:
    t.start()
for t in threads:
    t.join()
prof.disable()
print(json.dumps({"file": __file__}))
