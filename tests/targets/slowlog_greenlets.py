"""A greenlet "the-parent" that spawns two children; each has a local
child_local (11, 22) and sleeps 0.8 s.

The test expects the snapshot's greenlet tree: the two children under
the-parent, with their locals.
"""
import gevent


def child(n):
    child_local = n * 11  # shown in the snapshot
    assert child_local
    gevent.sleep(0.8)


def parent():
    kids = [gevent.spawn(child, i) for i in (1, 2)]
    gevent.joinall(kids)


p = gevent.spawn(parent)
p.name = "the-parent"
p.join()
