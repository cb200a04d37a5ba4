"""Raw greenlets: g1 (outer_work) starts g2 (inner_work(7)) and both
switch back to the main greenlet; a finished greenlet and a never
started one besides. Prints (JSON) the RunTree with locals, its text and
which greenlets are dead.

The test expects g2 under g1 under the main greenlet, the dead and the
not-started greenlets under the main one, and their stacks and locals.
"""
import json

import greenlet

import stackwatch

main = greenlet.getcurrent()


def inner_work(n):
    depth = n + 1
    assert depth
    main.switch()


def outer_work():
    g2 = greenlet.greenlet(inner_work)
    g2.switch(7)
    main.switch()


g1 = greenlet.greenlet(outer_work)
g1.switch()
finished = greenlet.greenlet(lambda: None)
finished.switch()
fresh = greenlet.greenlet(outer_work)

tree = stackwatch.RunTree(locals=True)
print(json.dumps({"tree": tree.to_dict(), "text": tree.format(),
                  "dead": [g1.dead, finished.dead]}))
