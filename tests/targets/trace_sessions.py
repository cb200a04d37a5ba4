"""Two tracing sessions in one process (Tracer API): the first excludes
trace_hot (its code is switched off with DISABLE on 3.12+), the second
traces everything and must see trace_hot again.  argv[1], argv[2]: the
two output paths."""

import os
import sys

import stackwatch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trace_hot  # noqa: E402


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main(first, second):
    with stackwatch.Tracer(first, exclude=["trace_hot"]):
        trace_hot.hot_loop(10)
    with stackwatch.Tracer(second):
        trace_hot.hot_loop(10)
    # And a run that overflows a small buffer: dropped, counted, whole.
    with stackwatch.Tracer(first, buffer="64KiB") as t:
        fib(18)
    st = t.stats()
    print(st["events"], st["dropped"])


main(sys.argv[1], sys.argv[2])
