"""An idle gevent.pywsgi server with dumps enabled, and a greenlet
spawned with spawn_later(30, later_job) waiting for its timer. Prints
"ready", then serves (tests/test_greenlet_state.py).

The test expects `stackwatch dump` to show the main greenlet serving and
the waiting greenlets as "not started", none of them "running".
"""
import gevent
from gevent.pywsgi import WSGIServer

import stackwatch


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


def later_job():
    gevent.sleep(1)


stackwatch.enable_dump()
server = WSGIServer(("127.0.0.1", 0), app, log=None)
server.start()
gevent.spawn_later(30, later_job)
gevent.sleep(0.1)
print("ready", flush=True)
server.serve_forever()
