"""User spans and marks (stackwatch.trace.span / mark) under the Tracer
API, nested among function slices; argv[1]: the output path."""

import sys

import stackwatch.trace


def handler(i):
    with stackwatch.trace.span("db query", table="users", row=i):
        lookup()
    stackwatch.trace.mark("done", row=i)


def lookup():
    return 1


def main(out):
    assert stackwatch.trace.mark("before") is False  # no trace yet
    with stackwatch.Tracer(out):
        with stackwatch.trace.span("request"):
            handler(1)
            handler(2)


main(sys.argv[1])
