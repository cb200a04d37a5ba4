"""Allocation-heavy, one thread: tuples, strings and dicts made and
dropped, a tenth kept until the end. Prints the time from its first line
to its last (start-up and profiler set-up left out)."""
import time

start = time.perf_counter()
cpu_start = time.process_time()  # every thread of the process
kept = []
for rnd in range(12):
    batch = [(i, str(i), {"k": i}) for i in range(100000)]
    kept.append(batch[::10])
    del batch
print("elapsed %.6f" % (time.perf_counter() - start))
print("cpu %.6f" % (time.process_time() - cpu_start))
