"""Spins in a greenlet "one" and then in the main greenlet under a 500 Hz
profiler with greenlets on; prints the collapsed profile. The test expects
stacks rooted at greenlet "one" and at the main greenlet.
"""
import stackwatch
from greenlet_work import UNIT
from spin import spin


import greenlet

def one():
    spin(50 * UNIT)

g = greenlet.greenlet(one)
p = stackwatch.Profiler(rate=500, greenlets=True)
with p:
    g.switch()
    spin(50 * UNIT)
print(p.render("collapsed").decode())
