"""Allocation-heavy, four threads (a producer/consumer pair among them:
blocks freed by another thread than the one that made them)."""
import queue
import threading
import time

start = time.perf_counter()
cpu_start = time.process_time()  # every thread of the process


def churn():
    for _ in range(4):
        batch = [(i, str(i)) for i in range(100000)]
        del batch


def producer(q):
    for _ in range(8):
        q.put([str(i) for i in range(50000)])
    q.put(None)


def consumer(q):
    while q.get() is not None:
        pass


q = queue.Queue(maxsize=2)
threads = [threading.Thread(target=churn), threading.Thread(target=churn),
           threading.Thread(target=producer, args=(q,)),
           threading.Thread(target=consumer, args=(q,))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("elapsed %.6f" % (time.perf_counter() - start))
print("cpu %.6f" % (time.process_time() - cpu_start))
