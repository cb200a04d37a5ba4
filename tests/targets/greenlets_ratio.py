"""Two plain greenlets, light and heavy, switch to each other ROUNDS times,
heavy doing 3 times light's work (helpers/greenlet_work.py), under a 1 kHz
CPU-mode profiler with greenlets on. Prints CPU seconds per greenlet and
the work measured (JSON). The test expects a 1:3 attribution matching the
measured work.
"""
import json

import stackwatch
from greenlet_work import ROUNDS, TRUTH, UNIT, by_greenlet, work


import greenlet

def light():
    for _ in range(ROUNDS):
        work("light", UNIT)
        heavy_g.switch()

def heavy():
    for _ in range(ROUNDS):
        work("heavy", 3 * UNIT)
        light_g.switch()

light_g = greenlet.greenlet(light)
heavy_g = greenlet.greenlet(heavy)
p = stackwatch.Profiler(rate=1000, mode="cpu", greenlets=True)
with p:
    light_g.switch()
print(json.dumps({"profile": by_greenlet(p), "truth": TRUTH}))
