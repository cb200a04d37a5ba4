"""Allocation-heavy, gevent greenlets as a server runs them: rounds of 50
greenlets, each allocating and freeing small objects and switching often
(one per request), and a queue whose items one greenlet makes and
another frees."""
import time

import gevent
import gevent.queue

start = time.perf_counter()
cpu_start = time.process_time()  # every thread of the process


def request():
    for _ in range(4):
        batch = [(i, str(i)) for i in range(2000)]
        gevent.sleep(0)
        del batch


def producer(q):
    for _ in range(15):
        q.put([str(i) for i in range(5000)])
    q.put(None)


def consumer(q):
    while q.get() is not None:
        pass


q = gevent.queue.Queue(maxsize=2)
pair = [gevent.spawn(producer, q), gevent.spawn(consumer, q)]
for _ in range(15):
    gevent.joinall([gevent.spawn(request) for _ in range(50)])
gevent.joinall(pair)
print("elapsed %.6f" % (time.perf_counter() - start))
print("cpu %.6f" % (time.process_time() - cpu_start))
