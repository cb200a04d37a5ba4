"""A thread tracked while a profiler with greenlets on runs switches into 5
greenlets, then 500 more after stop(); prints the native greenlet table's
size before and after those 500. The test expects at least 5 and no
growth.
"""
import threading, greenlet, stackwatch
from stackwatch import _native

def spawn_many(n):
    for _ in range(n):
        greenlet.greenlet(lambda: None).switch()

p = stackwatch.Profiler(greenlets=True)
p.start()
go, done = threading.Event(), threading.Event()
def other():  # tracked: started while tracking was on
    spawn_many(5)
    go.wait()
    spawn_many(500)
    done.set()
t = threading.Thread(target=other)
t.start()
p.stop()
before = len(_native.greenlet_table())
go.set(); done.wait(); t.join()
after = len(_native.greenlet_table())
print(before, after)
