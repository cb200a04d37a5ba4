"""Six raw greenlets: four run crunch() and two run other(), taking turns
(each spins a little, then switches back to the main greenlet), under a
500 Hz profiler with greenlets on. Prints the collapsed profile grouped
(greenlets=True) and per greenlet ("each"), as JSON
(tests/test_flamegraph_greenlets.py)."""
import json

import greenlet

import stackwatch
from greenlet_work import UNIT
from spin import spin


def crunch():
    for _ in range(5):
        spin(4 * UNIT)
        greenlet.getcurrent().parent.switch()


def other():
    for _ in range(5):
        spin(4 * UNIT)
        greenlet.getcurrent().parent.switch()


gs = [greenlet.greenlet(crunch) for _ in range(4)]
gs += [greenlet.greenlet(other) for _ in range(2)]
p = stackwatch.Profiler(rate=500, greenlets=True)
with p:
    for _ in range(5):
        for g in gs:
            g.switch()
print(json.dumps({"grouped": p.render("collapsed").decode(),
                  "each": p.render("collapsed", greenlets="each").decode()}))
