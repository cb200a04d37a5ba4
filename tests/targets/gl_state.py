"""Greenlets in every state, then the run info as JSON (the states of the
named greenlets, the text of format_run_info()) on stdout.

- "later": gevent.spawn_later(30, later_job), its timer not due;
- "soon": gevent.spawn(soon_job), scheduled for the hub's next turn;
- "idle": gevent.Greenlet(idle_job), never started;
- "waiting": started, now in gevent.sleep;
- "finished": ran to its end;
- "plain": a plain greenlet, never switched to.
The main greenlet is the one running. See tests/test_greenlet_state.py.
"""
import json
import sys

import gevent
import greenlet

import stackwatch.runinfo
from stackwatch import _native


def later_job():
    pass


def soon_job():
    pass


def idle_job():
    pass


def waiting_job():
    gevent.sleep(60)


def finished_job():
    return 42


def plain_job():
    pass


def main():
    finished = gevent.spawn(finished_job)
    waiting = gevent.spawn(waiting_job)
    gevent.sleep(0)  # both run: finished ends, waiting sleeps
    gl = {
        "later": gevent.spawn_later(30, later_job),
        "soon": gevent.spawn(soon_job),
        "idle": gevent.Greenlet(idle_job),
        "waiting": waiting,
        "finished": finished,
        "plain": greenlet.greenlet(plain_job),
        "main": greenlet.getcurrent(),
    }
    tree = stackwatch.runinfo.RunTree()
    states = {}
    for key, g in gl.items():
        gid = _native.greenlet_id(g)
        node = tree.find(predicate=lambda n: n.kind == "greenlet"
                         and n.id == gid)
        states[key] = None if node is None else {
            "state": node.state, "name": node.name,
            "starts_in": node.info.get("starts_in"),
            "start": node.info.get("start")}
    json.dump({"states": states, "text": str(tree),
               "formatted": stackwatch.runinfo.format_run_info()},
              sys.stdout)


main()
