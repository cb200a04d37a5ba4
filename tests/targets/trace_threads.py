"""Threads under the Tracer API: one that exists before tracing starts
(its later calls must be traced too) and one started while tracing.
argv[1]: the output path.  Prints the tracer's stats as JSON."""

import json
import sys
import threading

import stackwatch


def early_work():
    return sum(range(10))


def late_work():
    return sum(range(10))


def waiting(go):
    go.wait()
    early_work()


def main(out):
    go = threading.Event()
    early = threading.Thread(target=waiting, args=(go,), name="early")
    early.start()
    with stackwatch.Tracer(out) as tracer:
        late = threading.Thread(target=late_work, name="late")
        late.start()
        go.set()
        late.join()
        early.join()
    print(json.dumps(tracer.stats()))


main(sys.argv[1])
