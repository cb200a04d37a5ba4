"""A gevent greenlet that blocks the hub in a GIL-holding C call (crunch);
prints "done".

The test expects `stackwatch run` to report one hub stall at crunch's
line, with the GIL held.
"""
import gevent


def crunch():
    return sum(range(30_000_000))  # crunch-line


def worker():
    gevent.sleep(0.05)
    crunch()


gevent.joinall([gevent.spawn(worker)])
print("done")
