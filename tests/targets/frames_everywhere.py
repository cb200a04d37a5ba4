"""Child of tests/test_frame.py: a stack from each of stackwatch's three
producers -- profiler samples, a watchdog event, run info -- described as
JSON on stdout (type, fields, unpacked tuple)."""

import json
import sys
import threading
import time

import stackwatch
from stackwatch import events


def describe(frame):
    name, filename, lineno = frame
    return {"type": "%s.%s" % (type(frame).__module__,
                               type(frame).__qualname__),
            "is_public": type(frame) is stackwatch.Frame,
            "unpacked": [name, filename, lineno],
            "fields": [frame.name, frame.filename, frame.lineno, frame.line,
                       frame.args, frame.locals]}


def spin_for(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1
    return x


def main():
    out = {}
    with stackwatch.Profiler(rate=500) as prof:
        spin_for(0.3)
    leaves = [s.frames[-1] for s in prof.samples() if s.frames]
    spinning = [f for f in leaves if f.name == "spin_for"]
    out["profiler"] = describe(spinning[0]) if spinning else None
    out["summary"] = prof.summary(1)

    got = []
    done = threading.Event()

    def on_event(ev):
        if isinstance(ev, events.DeadlineExceeded):
            got.append(ev)
            done.set()

    events.subscribe(on_event)
    stackwatch.monitor.start(max_blocking_time=None, report_to=None)
    with stackwatch.deadline(0.05, name="frames"):
        spin_for(0.5)
    done.wait(10)
    stackwatch.monitor.stop()
    stack = got[0].stack if got else []
    out["event"] = describe(stack[-1]) if stack else None
    out["event_names"] = [f.name for f in stack]

    secret_local = "s3" + "cret"  # shown by run info, redacted
    assert secret_local
    tree = stackwatch.RunTree(locals=True)
    out["runinfo"] = describe(tree.find("MainThread").stack[0])
    json.dump(out, sys.stdout)


main()
