"""Scoped tracing under the Tracer API: a hot loop outside any traced
function, a @traced handler called three times (from the main thread and
from a worker thread), a recursive traced function, a traced generator,
a traced function that raises, and (argv[2], "MODULE:QUALNAME") a
function named by string in a module imported after the start.
argv[1]: the output path.  Prints the tracer's stats as JSON."""

import json
import sys
import threading

import stackwatch
from stackwatch.trace import traced


def hot():
    return sum(range(5))


def helper(n):
    return n + 1


# sys.monitoring's global events of the tracer's tool id, seen inside
# a traced function and outside (3.12+; empty before).
EVENTS = {}


def global_events(where):
    mon = getattr(sys, "monitoring", None)
    if mon is not None and TOOL[0] is not None:
        EVENTS.setdefault(where, mon.get_events(TOOL[0]))


TOOL = [None]


@traced
def handler(n):
    global_events("inside")
    return helper(n) + helper(n)


@traced
def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)


@traced
def counter():
    yield helper(1)
    yield helper(2)


@traced
def fails():
    helper(0)
    raise ValueError("boom")


def worker():
    handler(10)


def main(out, by_name):
    functions = [by_name] if by_name else []
    with stackwatch.Tracer(out, scoped=True, functions=functions) as tr:
        TOOL[0] = tr.tool_id
        global_events("before")
        for _ in range(200):
            hot()
        handler(1)
        handler(2)
        t = threading.Thread(target=worker, name="worker")
        t.start()
        t.join()
        fact(3)
        for _ in counter():
            hot()
        try:
            fails()
        except ValueError:
            hot()
        global_events("after")
        if by_name:
            import trace_scoped_mod

            trace_scoped_mod.outer()
            trace_scoped_mod.Handler().handle()
    stats = tr.stats()
    stats["unmatched"] = tr.unmatched_functions()
    stats["global_events"] = EVENTS
    print(json.dumps(stats))


main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
