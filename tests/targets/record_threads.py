"""Three threads for 0.8 s: the main thread and "worker-1" spin on the
CPU, "napper" sleeps.

The tests expect each thread's name in a --threads profile, and napper
left out in --mode cpu.
"""
import threading
import time


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def nap(seconds):
    time.sleep(seconds)


workers = [threading.Thread(target=spin, args=(0.8,), name="worker-1"),
           threading.Thread(target=nap, args=(0.8,), name="napper")]
for t in workers:
    t.start()
spin(0.8)
for t in workers:
    t.join()
