"""A thread "gthread" started while a profiler (greenlets on) runs spins in a
greenlet of its own; prints the greenlet labels of its samples (JSON). The
test expects the greenlet's (work) label among them.
"""
import json

import stackwatch
from greenlet_work import UNIT
from spin import spin


import threading, greenlet

def in_thread():
    def work():
        spin(100 * UNIT)
    greenlet.greenlet(work).switch()

p = stackwatch.Profiler(rate=500, greenlets=True)
with p:
    t = threading.Thread(target=in_thread, name="gthread")
    t.start()
    t.join()
labels = {s.greenlet for s in p.samples() if s.thread == "gthread"}
print(json.dumps(sorted(l or "" for l in labels)))
