"""Two gevent greenlets doing 1 and 3 units of work per round
(helpers/greenlet_work.py), under a 1 kHz CPU-mode profiler with greenlets
on. Prints both greenlets' CPU seconds in the profile and the work
measured (JSON). The test expects a 1:3 attribution matching the measured
work.
"""
import json

import stackwatch
from stackwatch import _native
from greenlet_work import ROUNDS, TRUTH, UNIT, by_greenlet, work


import gevent

def worker(weight):
    for _ in range(ROUNDS):
        work(weight, weight * UNIT)
        gevent.sleep(0)

p = stackwatch.Profiler(rate=1000, mode="cpu", greenlets=True)
with p:
    a = gevent.spawn(worker, 1)
    b = gevent.spawn(worker, 3)
    gevent.joinall([a, b])
counts = by_greenlet(p)


def label(g):
    return "%s #%d (worker)" % (g.name, _native.greenlet_id(g))


print(json.dumps({"light": counts.get(label(a), 0),
                  "heavy": counts.get(label(b), 0),
                  "all": counts,
                  "truth": {"light": TRUTH[1], "heavy": TRUTH[3]}}))
