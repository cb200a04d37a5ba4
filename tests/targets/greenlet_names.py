"""Child of tests/test_greenlet_names.py: the identity and labels of
greenlets of every kind, from _greenlets.identify and from each place
that shows them (profiler labels, the watchdog's answers, run info), as
JSON on stdout."""

import functools
import json
import sys

import gevent
import greenlet

import stackwatch
from stackwatch import _greenlets, _native, _watchdog_answers


def worker():
    greenlet.getcurrent().parent.switch()


def handler():
    gevent.sleep(0)


class Worker:
    """As gunicorn's gevent worker: each connection's greenlet runs
    partial(self.handle, listener) through gevent's server wrapper."""

    def handle(self, listener, sock, addr):
        gevent.sleep(0)


class Custom(greenlet.greenlet):
    def run(self):
        self.parent.switch()


def main():
    stackwatch.monitor.start(max_blocking_time=None, report_to=None)
    _native.greenlet_install()
    plain = greenlet.greenlet(worker)
    fresh = greenlet.greenlet(worker)
    custom = Custom()
    plain.switch()
    custom.switch()
    done = greenlet.greenlet(lambda: None)
    done.switch()
    glet = gevent.spawn(handler)
    from gevent.baseserver import _handle_and_close_when_done
    served = gevent.spawn(_handle_and_close_when_done,
                          functools.partial(Worker().handle, "listener"),
                          lambda *args: None, ("sock", "addr"))
    gevent.sleep(0)  # handler and Worker.handle start and wait in the hub
    main_g = greenlet.getcurrent()
    gl = {"plain": plain, "fresh": fresh, "custom": custom, "done": done,
          "gevent": glet, "main": main_g, "served": served}
    tree = stackwatch.RunTree()
    out = {}
    for key, g in gl.items():
        gid = _native.greenlet_id(g)
        who = _greenlets.identify(g, gid)
        node = tree.find(predicate=lambda n: n.kind == "greenlet"
                         and n.id == gid)
        out[key] = {
            "gid": gid,
            "identity": list(who),
            "label": _greenlets.label(gid, g, type(g).__name__),
            "watchdog": _watchdog_answers.greenlet_label(gid, g),
            "runinfo": None if node is None else
            [node.name, node.info.get("function")],
        }
    out["gone"] = {"identity": list(_greenlets.identify(None, 99, "x.Y")),
                   "label": _greenlets.label(99, None, "x.Y", "serve"),
                   "generic": _greenlets.label(99, None, "x.Y", "run")}
    glet.kill()
    served.kill()
    stackwatch.monitor.stop()
    json.dump(out, sys.stdout)


main()
