"""Two threads allocate 100 MiB and 10 MiB of Python objects (bytes of
4 KiB each) and keep them; a third allocates 20 MiB that a fourth frees.
Under stackwatch.MemoryProfiler(argv[1]); the profile ends while the
kept objects are still alive.

argv: DIR [exit|interrupt|disable]. exit: the interpreter's exit ends the
files; interrupt: KeyboardInterrupt ends the program; disable: disable()."""
import os
import queue
import sys
import threading
import time

import stackwatch

CHUNK = 4096
kept = {}


def allocate(name, mib):
    n = mib * 1024 * 1024 // CHUNK
    kept[name] = [bytes(CHUNK) for _ in range(n)]
    # Alive until the writer wrote a line for this thread (on a loaded
    # machine it may not have run during the allocation): its file then
    # has a line written while it ran and the last one.
    path = os.path.join(sys.argv[1], str(os.getpid()), name + ".mem")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                if any(line[:1].isdigit() for line in f):
                    break
        except OSError:
            pass
        time.sleep(0.01)


def producer(q, mib):
    q.put([bytes(CHUNK) for _ in range(mib * 1024 * 1024 // CHUNK)])


def consumer(q):
    blocks = q.get()
    del blocks[:]  # freed here, allocated by the producer


prof = stackwatch.MemoryProfiler(sys.argv[1])
prof.enable()
threads = [threading.Thread(target=allocate, args=("big", 100), name="big"),
           threading.Thread(target=allocate, args=("small", 10),
                            name="small")]
q = queue.Queue()
threads.append(threading.Thread(target=producer, args=(q, 20),
                                name="producer"))
threads.append(threading.Thread(target=consumer, args=(q,), name="consumer"))
for t in threads:
    t.start()
for t in threads:
    t.join()
how = sys.argv[2] if len(sys.argv) > 2 else "disable"
print("ready", flush=True)
if how == "disable":
    prof.disable()
elif how == "interrupt":
    raise KeyboardInterrupt
