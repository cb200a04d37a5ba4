"""gevent: "Parent" (with spawn-tree locals, one secret) spawns two
children (with gevent.local values, one secret) that sleep; one greenlet
failed with ValueError('kaput'), one finished with 'ok'. Prints (JSON)
the RunTree with locals, its text, the greenlets' minimal idents and the
thread's ident.

The test expects the tree by spawner, spawning stacks, the locals with
secrets redacted, the failed and finished greenlets, and the hub.
"""
import json
import threading

import gevent
import gevent.local

import stackwatch

loc = gevent.local.local()


def child(n):
    loc.request_id = "req-%d" % n
    loc.api_token = "tok-" + "HIDDEN"
    gevent.sleep(5)


def spawn_children():
    a = gevent.spawn(child, 0)
    b = gevent.spawn(child, 1)
    return a, b


def parent():
    gevent.getcurrent().spawn_tree_locals["tenant"] = "acme"
    gevent.getcurrent().spawn_tree_locals["session_key"] = "sk-" + "HIDDEN"
    kids = spawn_children()
    assert kids
    gevent.sleep(5)


def boom():
    raise ValueError("kaput")


def fine():
    return "ok"


p = gevent.spawn(parent)
p.name = "Parent"
failed = gevent.spawn(boom)
done = gevent.spawn(fine)
gevent.sleep(0.05)
tree = stackwatch.RunTree(locals=True)
print(json.dumps({
    "tree": tree.to_dict(), "text": tree.format(),
    "idents": {"parent": p.minimal_ident, "failed": failed.minimal_ident,
               "done": done.minimal_ident},
    "thread": threading.get_ident()}))
