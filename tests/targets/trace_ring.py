"""Calls a() for 0.4 s, then b() for 0.4 s, for `stackwatch trace
--ring`: keeping the last seconds, the trace must hold b's calls and none
of a's."""

import time


def a():
    pass


def b():
    pass


def main():
    t = time.perf_counter()
    while time.perf_counter() - t < 0.4:
        a()
    t = time.perf_counter()
    while time.perf_counter() - t < 0.4:
        b()


main()
