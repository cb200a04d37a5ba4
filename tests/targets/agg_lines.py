"""Spends ~0.6 s in work(), on two lines of its own, while a thread named
"sleeper" waits on an event (idle: no CPU) (tests/test_aggregation.py).

Run as a script (recorded by `stackwatch record`), or with a JSON object
of Profiler keyword arguments as argv[1]: then it profiles itself with
them and prints JSON: every sample's frames as [name, line], and the
profile in the collapsed, speedscope and svg formats."""
import json
import sys
import threading
import time


def work(seconds):  # def
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        for i in range(300):
            x += i  # first
        for i in range(300):
            x -= i  # second
    return x


def sleeper(event):
    event.wait()  # sleeper


def main():
    event = threading.Event()
    t = threading.Thread(target=sleeper, args=(event,), name="sleeper")
    t.start()
    work(0.6)
    event.set()
    t.join()


if len(sys.argv) > 1:
    import stackwatch

    p = stackwatch.Profiler(rate=500, **json.loads(sys.argv[1]))
    with p:
        main()
    print(json.dumps({
        "samples": [[[f.name, f.lineno] for f in s.frames]
                    for s in p.samples()],
        "mode": p.mode,
        "collapsed": p.render("collapsed").decode(),
        "speedscope": json.loads(p.render("speedscope")),
        "svg": p.render("svg").decode(),
    }))
else:
    main()
