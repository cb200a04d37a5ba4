"""Calls a() for 0.4 s, then b() for 0.4 s, for `stackwatch trace
--ring`: keeping the last seconds, the trace must hold b's calls and none
of a's.  With the argument "paced", each call is followed by a short
sleep (thousands of calls rather than millions: a trace that loads in
a moment)."""

import sys
import time

PACED = sys.argv[1:] == ["paced"]


def a():
    pass


def b():
    pass


def main():
    t = time.perf_counter()
    while time.perf_counter() - t < 0.4:
        a()
        if PACED:
            time.sleep(0.0001)
    t = time.perf_counter()
    while time.perf_counter() - t < 0.4:
        b()
        if PACED:
            time.sleep(0.0001)


main()
